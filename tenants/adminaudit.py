"""The admin's saves and deletes in the audit log: a ModelAdmin mixin for the engine's models (tenants'
and jobs') whose admin writes rows itself rather than through a function that records them.

Django calls ``log_addition``, ``log_change`` and ``log_deletions`` inside the change form's and the
delete view's ``atomic()`` block; the mixin runs changelist actions (``delete_selected`` among them) in
one too, so each entry commits or rolls back with its change.
"""

from typing import Any

from django.contrib import admin
from django.db import models, router, transaction
from django.http import HttpRequest

from . import signals

#: Where ``construct_change_message`` leaves the change form's before/after values for ``log_change``.
_CHANGES = "_audit_changes"


class AuditedAdmin(admin.ModelAdmin):
    #: The actions' noun: ``<noun>.create``, ``<noun>.update``, ``<noun>.delete``.
    audit_noun = ""
    #: What this admin records; a part left out is recorded by the function the admin calls for it.
    audit_records: tuple[str, ...] = ("create", "update", "delete")

    def audit_tenant(self, obj: Any) -> Any:
        """The tenant an entry is about (``None``: none)."""
        return getattr(obj, "tenant_id", None)

    def _send(self, part: str, obj: models.Model, **fields: Any) -> None:
        if part in self.audit_records:
            signals.send(f"{self.audit_noun}.{part}", target=f"{self.audit_noun} {obj}", tenant=self.audit_tenant(obj),
                         ids=[obj.pk], **fields)

    def construct_change_message(self, request: HttpRequest, form: Any, formsets: Any, add: bool = False) -> Any:
        if not add:
            # The form's initial values are the row as this request loaded it, inside the change's transaction.
            # Every field, not form.changed_data (a callable default's field compares with a hidden input).
            names = [name for name in form.fields if name in form.cleaned_data]
            setattr(request, _CHANGES, signals.diff({name: form.initial.get(name) for name in names},
                                                    {name: form.cleaned_data[name] for name in names}))
        return super().construct_change_message(request, form, formsets, add)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        fields = [f.name for f in obj._meta.concrete_fields if not f.primary_key]
        self._send("create", obj, counts=signals.diff({}, signals.values(obj, fields)))
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        changes = getattr(request, _CHANGES, None)
        if changes and changes["after"]:
            self._send("update", obj, counts=changes)
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            self._send("delete", obj, detail={"was": str(obj)})
        return super().log_deletions(request, queryset)

    def response_action(self, request: HttpRequest, queryset: Any, *args: Any, **kwargs: Any) -> Any:
        # delete_selected logs, then deletes: one transaction, as the delete view has.
        with transaction.atomic(using=router.db_for_write(self.model)):
            return super().response_action(request, queryset, *args, **kwargs)
