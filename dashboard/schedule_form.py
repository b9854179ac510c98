"""The console's schedule form: the fields as typed; ``jobs.services.schedules`` validates them (one
validation for every entry point) and the view puts its error on the field it names."""

import json
from typing import Any

from django import forms

from jobs.models import Schedule
from tenants.models import Tenant

_JSON = {"rows": 3, "spellcheck": "false", "class": "mono"}


class ScheduleForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Letters, digits, '.', '_', ':' or '-'.")
    tenant = forms.ChoiceField()
    type = forms.CharField(max_length=100, label="Task type")
    cron = forms.CharField(required=False, max_length=120, label="Cron expression",
                           help_text="5 fields (minute hour day month weekday), or 6 with seconds first. "
                                     "Or leave empty and give an interval.")
    every = forms.CharField(required=False, max_length=40, label="Or every", help_text="30s, 5m, 1h, 1d, or seconds.")
    timezone = forms.CharField(initial="UTC", max_length=64, label="Time zone",
                               help_text="IANA name, e.g. Europe/Berlin: the cron is read in it (DST included).")
    payload = forms.CharField(required=False, initial="{}", widget=forms.Textarea(attrs=_JSON),
                              label="Payload (JSON object)")
    priority = forms.IntegerField(initial=3, min_value=1, max_value=5)
    queue = forms.CharField(required=False, max_length=64, help_text="Empty: the type's queue or the default.")
    missed = forms.ChoiceField(choices=Schedule.Missed.choices, initial=Schedule.Missed.LATEST,
                               label="After downtime", help_text="latest: one task for the gap; skip: none; "
                                                                 "all: each missed tick, at most the limit.")
    missed_limit = forms.IntegerField(initial=10, min_value=1, label="Missed limit (with all)")
    options = forms.CharField(required=False, initial="{}", widget=forms.Textarea(attrs=_JSON),
                              label="Other task fields (JSON)", help_text='e.g. {"max_retries": 1}')
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        slugs = Tenant.objects.order_by("slug").values_list("slug", flat=True)
        self.fields["tenant"].choices = [(s, s) for s in slugs]  # type: ignore[attr-defined]  # a ChoiceField
        if editing:
            self.fields["name"].disabled = True

    @classmethod
    def of(cls, schedule: Schedule) -> "ScheduleForm":
        return cls(editing=True, initial={
            "name": schedule.name, "tenant": schedule.tenant.slug, "type": schedule.type, "cron": schedule.cron,
            "every": str(schedule.every or ""), "timezone": schedule.timezone,
            "payload": json.dumps(schedule.payload), "priority": schedule.priority, "queue": schedule.queue,
            "missed": schedule.missed, "missed_limit": schedule.missed_limit,
            "options": json.dumps(schedule.options), "enabled": schedule.enabled})

    def clean_options(self) -> dict[str, Any]:
        raw = self.cleaned_data.get("options") or "{}"
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("must be a JSON object of task fields")
        return value

    def definition(self) -> dict[str, Any]:
        """What the service takes (the payload as typed: the enqueue path parses and checks it)."""
        data = {k: v for k, v in self.cleaned_data.items() if k != "name"}
        data["payload"] = data.get("payload") or "{}"
        data["every"] = data.get("every") or None
        return data

    def put_error(self, field: str, message: str) -> None:
        """The service's error on its field (``options.x`` on options; others above the form)."""
        name = field.split(".")[0]
        self.add_error(name if name in self.fields else None, f"{field}: {message}" if name != field or
                       name not in self.fields else message)
