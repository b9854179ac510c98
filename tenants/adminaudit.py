"""The admin's saves and deletes in the audit log: a ModelAdmin mixin for the engine's models (tenants'
and jobs') whose admin writes rows itself rather than through a function that records them.

Django calls ``log_addition``, ``log_change`` and ``log_deletions`` inside the change form's and the
delete view's ``atomic()`` block; the mixin runs changelist actions (``delete_selected`` among them) in
one too, so each entry commits or rolls back with its change.
"""

from typing import Any

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.db import router, transaction
from django.http import HttpRequest

from . import signals

#: Where ``construct_change_message`` leaves the change form's before/after values for ``log_change``.
_CHANGES = "_audit_changes"


def _changes(form: Any) -> dict[str, dict[str, Any]]:
    """The model fields a bound, valid form changes: its initial values (the row as this request loaded it,
    inside the change's transaction) against its cleaned ones. Every field, not ``form.changed_data``: a
    field with a callable default compares against a hidden input the POST may lack."""
    model_fields = {f.name for f in form._meta.model._meta.concrete_fields if not f.primary_key}
    names = [name for name in form.fields if name in model_fields and name in form.cleaned_data]
    return signals.diff({name: form.initial.get(name) for name in names},
                        {name: form.cleaned_data[name] for name in names})


class AuditedAdmin(admin.ModelAdmin):
    #: The actions' noun: ``<noun>.create``, ``<noun>.update``, ``<noun>.delete``.
    audit_noun = ""
    #: What this admin records; a part left out is recorded by the function the admin calls for it.
    audit_records: tuple[str, ...] = ("create", "update", "delete")

    def audit_tenant(self, obj: Any) -> Any:
        """The tenant an entry is about (``None``: none)."""
        return getattr(obj, "tenant_id", None)

    def audit_target(self, obj: Any) -> str:
        return f"{self.audit_noun} {obj}"

    def audit(self, part: str, obj: Any, **fields: Any) -> None:
        if part in self.audit_records:
            signals.send(f"{self.audit_noun}.{part}", target=self.audit_target(obj), tenant=self.audit_tenant(obj),
                         ids=[obj.pk], **fields)

    def construct_change_message(self, request: HttpRequest, form: Any, formsets: Any, add: bool = False) -> Any:
        if not add:
            setattr(request, _CHANGES, _changes(form))
        return super().construct_change_message(request, form, formsets, add)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        fields = [f.name for f in obj._meta.concrete_fields if not f.primary_key]
        self.audit("create", obj, counts=signals.diff({}, signals.values(obj, fields)))
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        changes = getattr(request, _CHANGES, None)
        if changes and changes["after"]:
            self.audit("update", obj, counts=changes)
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            self.audit("delete", obj, detail={"was": str(obj)})
        return super().log_deletions(request, queryset)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Inline rows edited here are recorded as their own admin records an edit (``<noun>.update``)."""
        try:
            owner = self.admin_site.get_model_admin(formset.model)
        except NotRegistered:
            owner = None
        edits = [(f.instance, _changes(f)) for f in formset.forms if isinstance(owner, AuditedAdmin)
                 and f.instance.pk is not None and f.has_changed() and hasattr(f, "cleaned_data")]
        super().save_formset(request, form, formset, change)
        for obj, changed in edits:
            if changed["after"] and isinstance(owner, AuditedAdmin):
                owner.audit("update", obj, counts=changed)

    def response_action(self, request: HttpRequest, queryset: Any, *args: Any, **kwargs: Any) -> Any:
        # delete_selected logs, then deletes: one transaction, as the delete view has.
        with transaction.atomic(using=router.db_for_write(self.model)):
            return super().response_action(request, queryset, *args, **kwargs)
