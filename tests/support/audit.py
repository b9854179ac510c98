"""Reading the audit log in tests: the one entry a change wrote."""

from typing import Any

from jobs.models import AuditEntry


def only(action: str, **expected: Any) -> AuditEntry:
    """The one entry of ``action`` (failing when there are none or several), with ``expected`` field values."""
    found = list(AuditEntry.objects.filter(action=action))
    assert len(found) == 1, [(e.action, e.actor, e.target) for e in AuditEntry.objects.all()]
    entry = found[0]
    for name, value in expected.items():
        assert getattr(entry, name) == value, (name, getattr(entry, name), value)
    return entry


def actions() -> list[str]:
    """Every entry's action, oldest first."""
    return list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
