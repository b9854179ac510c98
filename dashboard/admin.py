"""The admin's editor of type grants (``jobs.models.TypeGrant``): add and delete, never edit.

It lives here, beside the console's editor and its helper (``dashboard.grants``), because
``tenants`` may not import ``jobs.models`` for an inline on the tenant page.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from jobs.models import TypeGrant

from . import grants


class TypeGrantForm(forms.ModelForm):
    # Callable choices: the registry as it is when the form is shown, listed types only.
    type = forms.ChoiceField(choices=lambda: [(name, name) for name in grants.listed_types()],
                             help_text="A registered type whose access is “listed”.")

    class Meta:
        model = TypeGrant
        fields = ["tenant", "type"]


@admin.register(TypeGrant)
class TypeGrantAdmin(admin.ModelAdmin):
    form = TypeGrantForm
    list_display = ["type", "tenant", "created_at"]
    list_filter = ["type", "tenant"]
    search_fields = ["type", "tenant__slug"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a grant is one fact: revoke it (delete) and grant another
