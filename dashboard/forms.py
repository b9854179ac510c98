"""Forms of the tenants pages (the task filters live in ``tasklist``)."""

from typing import Any

from django import forms

from tenants.models import ApiKey, Tenant
from tenants.queues import QueueListField

_NUMBER = {"min": 1, "inputmode": "numeric"}


class TenantLimitsForm(forms.ModelForm):
    allowed_queues = QueueListField(label="Allowed queues")

    class Meta:
        model = Tenant
        fields = ["weight", "max_running", "rate_limit", "rate_window_seconds", "max_pending",
                  "max_pending_age_seconds", "allowed_queues"]
        labels = {"weight": "Weight", "max_running": "Max running (empty: no cap)",
                  "rate_limit": "Rate limit (tasks per window)",
                  "rate_window_seconds": "Rate window (seconds)",
                  "max_pending": "Max waiting tasks (empty: no cap)",
                  "max_pending_age_seconds": "Max age of the oldest due waiting task (seconds; empty: no cap)"}
        widgets = {
            "weight": forms.NumberInput(attrs=_NUMBER),
            "max_running": forms.NumberInput(attrs=_NUMBER),
            "rate_limit": forms.NumberInput(attrs={"min": 0, "inputmode": "numeric"}),
            "rate_window_seconds": forms.NumberInput(attrs=_NUMBER),
            "max_pending": forms.NumberInput(attrs=_NUMBER),
            "max_pending_age_seconds": forms.NumberInput(attrs=_NUMBER),
        }


class ApiKeyForm(forms.ModelForm):
    """A new key; the operator box only for staff who may issue operator keys (the view refuses a forged one)."""

    class Meta:
        model = ApiKey
        fields = ["name", "is_operator"]
        labels = {"name": "Name", "is_operator": "Operator key (may read every tenant)"}
        help_texts = {"name": "What or who uses it, e.g. “billing service”."}


class TypeGrantForm(forms.Form):
    """Grant one listed task type to the tenant (the choices: listed types not yet granted)."""

    def __init__(self, *args: Any, choices: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["type"] = forms.ChoiceField(label="Task type", choices=[(name, name) for name in choices])
