"""Forms of the tenant lifecycle in the console: create, rename (the slug, every key's and queue's
anchor, stays), deactivate and reactivate with a confirmation."""

from typing import Any

from django import forms
from django.utils.text import slugify

from tenants.models import Tenant

_NUMBER = {"min": 1, "inputmode": "numeric"}


class TenantCreateForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ["name", "slug", "weight"]
        labels = {"name": "Name", "slug": "Slug (empty: from the name)", "weight": "Weight"}
        help_texts = {"slug": "Its id in URLs and its own queue's name; it cannot change later.",
                      "weight": "Its share under contention (≥ 1)."}
        widgets = {"weight": forms.NumberInput(attrs=_NUMBER)}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["weight"].initial = 1

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not slugify(name):
            raise forms.ValidationError("must contain letters or digits")
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("name") and not data.get("slug"):
            slug = slugify(data["name"])[:100]
            if Tenant.objects.filter(slug=slug).exists():
                self.add_error("slug", f"a tenant {slug!r} already exists: choose another slug")
            data["slug"] = slug
            self.instance.slug = slug
        return data


class TenantRenameForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("must not be blank")
        return name
