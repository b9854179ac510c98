"""The dead letter's action form: what a requeue or discard selects (a group or every failed task,
of one tenant or all) and, once confirmed, the cut-off its confirmation counted."""

from typing import Any

from django import forms

from jobs.services.deadletter import Cutoff, Selection
from jobs.services.listing import MomentField
from tenants.models import Tenant


class DeadLetterActionForm(forms.Form):
    scope = forms.ChoiceField(choices=[("group", "group"), ("all", "all")],
                              error_messages={"invalid_choice": "must be group or all"})
    type = forms.CharField(required=False, strip=False)
    error_type = forms.CharField(required=False, strip=False)
    error_message = forms.CharField(required=False, strip=False)
    tenant = forms.CharField(required=False)
    #: The cut-off the confirmation counted (newest id, latest finish) and its count.
    upto = forms.IntegerField(required=False, min_value=0)
    finished = MomentField(required=False)
    count = forms.IntegerField(required=False, min_value=0)
    confirm = forms.CharField(required=False)

    def clean_tenant(self) -> Tenant | None:
        slug = self.cleaned_data["tenant"].strip()
        if not slug:
            return None
        found = Tenant.objects.filter(slug=slug).first()
        if found is None:
            raise forms.ValidationError("no such tenant")
        return found

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("scope") == "group" and not data.get("type"):
            self.add_error("type", "required for a group")
        if self.confirmed and data.get("upto") is None:
            self.add_error("upto", "required to confirm (the confirmation's cut-off)")
        return data

    @property
    def confirmed(self) -> bool:
        return self.data.get("confirm") == "yes"

    def selection(self) -> Selection:
        data = self.cleaned_data
        group = (data["type"], data["error_type"], data["error_message"]) if data["scope"] == "group" else None
        return Selection(group, data["tenant"])

    def cutoff(self) -> Cutoff:
        return Cutoff(self.cleaned_data["upto"] or 0, self.cleaned_data["finished"])

    def problem(self) -> str:
        """The first bad field, for the 400 (the fields are hidden: only a forged form gets here)."""
        name, errors = next(iter(self.errors.items()))
        return f"{name}: {'; '.join(str(e) for e in errors)}"
