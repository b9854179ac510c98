"""Forms of the tenants pages (the task filters live in ``tasklist``)."""

from django import forms

from tenants.models import ApiKey, Tenant


class TenantLimitsForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ["weight", "max_running", "rate_limit", "rate_window_seconds"]
        labels = {"weight": "Weight", "max_running": "Max running (empty: no cap)",
                  "rate_limit": "Rate limit (tasks per window)",
                  "rate_window_seconds": "Rate window (seconds)"}
        widgets = {
            "weight": forms.NumberInput(attrs={"min": 1, "inputmode": "numeric"}),
            "max_running": forms.NumberInput(attrs={"min": 1, "inputmode": "numeric"}),
            "rate_limit": forms.NumberInput(attrs={"min": 0, "inputmode": "numeric"}),
            "rate_window_seconds": forms.NumberInput(attrs={"min": 1, "inputmode": "numeric"}),
        }


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "is_operator"]
        labels = {"name": "Name", "is_operator": "Operator key (may read every tenant)"}
        help_texts = {"name": "What or who uses it, e.g. “billing service”."}
