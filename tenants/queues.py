"""A tenant's queue allow-list (``Tenant.allowed_queues``): the one check of every place that edits it.

The console, the admin, the commands and ``PATCH /api/tenants/{slug}`` all go through
:func:`clean_queues` (a JSON list) or :func:`parse_queues` (comma-separated text), so a
name is valid, or refused with the same message, wherever it is typed.
"""

from typing import Any

from django import forms

#: The width of jobs' ``Task.queue`` column. tenants sits below jobs and cannot read the model,
#: so the number is repeated here; tests/security/test_operators.py pins the two together.
MAX_QUEUE_CHARS = 64
#: Enough for any real deployment; bounds the row and the console's rendering.
MAX_QUEUES = 100


def clean_queues(value: object) -> list[str]:
    """``value`` (a list of names, or ``None`` for the default) as a list without repeats.

    Raises ``ValueError`` saying what is wrong. Commas are refused because workers and the
    command line write queue lists comma-separated.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("must be a list of queue names")
    if len(value) > MAX_QUEUES:
        raise ValueError(f"at most {MAX_QUEUES} queues")
    names: list[str] = []
    for name in value:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("each queue name must be a non-empty string")
        if name != name.strip() or "," in name:
            raise ValueError(f"queue name {name!r} must not contain commas or surrounding spaces")
        if len(name) > MAX_QUEUE_CHARS:
            raise ValueError(f"queue name {name[:20]!r}… is longer than {MAX_QUEUE_CHARS} characters")
        if name not in names:
            names.append(name)
    return names


def parse_queues(raw: str) -> list[str]:
    """Comma-separated names (console and command line); empty or ``none``: the default (``[]``)."""
    if raw.strip().lower() in {"", "none"}:
        return []
    return clean_queues([part.strip() for part in raw.split(",")])


def describe(queues: list[str], slug: str) -> str:
    """What a tenant may submit to, for humans: the list, or the default it stands for."""
    return ", ".join(queues) if queues else f"{slug}, default (the default)"


class QueueListField(forms.CharField):
    """A form field for ``allowed_queues``: comma-separated names in, a list out."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Comma-separated queue names; empty: its own (its slug) and 'default'.")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        try:
            return clean_queues(value) if isinstance(value, list) else parse_queues(super().to_python(value) or "")
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
