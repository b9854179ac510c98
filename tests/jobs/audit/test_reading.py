"""Reading the log: GET /api/audit (operator keys only), the console page (its view permission), manage.py audit;
the same filters everywhere; immutability; pruning after the retention."""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management.base import CommandError
from django.test import Client

from jobs import actor, clock
from jobs.models import AuditEntry
from jobs.services import audit, maintenance
from tenants.models import Tenant
from tests.support.api import Caller, assert_problem
from tests.support.commands import run

pytestmark = pytest.mark.django_db

ALICE = actor.user("alice", source="console", address="10.0.0.1")
BOB = actor.Actor("key", "abc123", "api", "10.0.0.2")


@pytest.fixture
def log(acme: Tenant) -> list[AuditEntry]:
    """Four entries, oldest first: two by alice (one about acme), two by key abc123, spread over ten days."""
    AuditEntry.objects.all().delete()  # the fixtures' own key.issue entries
    now = clock.now()
    made = [
        audit.record("pause.create", target="queue mail", actor=ALICE),
        audit.record("tenant.update", target="tenant acme", tenant=acme,
                     counts={"before": {"weight": 1}, "after": {"weight": 2}}, actor=ALICE),
        audit.record("task.cancel", target="task 1", ids=[1], actor=BOB),
        audit.record("tasks.requeue", filter={"status": "failed"}, counts={"requeued": 3}, actor=BOB),
    ]
    AuditEntry.objects.all().delete()
    for entry, days in zip(made, (10, 5, 1, 0), strict=True):
        # Written again at its moment, in the same order (an entry itself cannot be changed).
        entry.pk, entry.at = None, now - timedelta(days=days)
        entry._state.adding = True
        entry.save()
    return list(AuditEntry.objects.order_by("id"))


def test_the_api_is_for_operator_keys_only(api: Caller, log: list[AuditEntry]) -> None:
    assert_problem(api.get("/api/audit"), 403)
    assert_problem(Client().get("/api/audit"), 401)


def test_the_api_lists_newest_first_in_cursor_pages(operator_api: Caller, log: list[AuditEntry]) -> None:
    first = operator_api.get("/api/audit", {"page_size": 3}).json()
    assert [e["action"] for e in first["data"]] == ["tasks.requeue", "task.cancel", "tenant.update"]
    assert first["data"][2]["tenant"] == "acme" and first["data"][2]["counts"]["after"] == {"weight": 2}
    assert first["data"][1]["address"] == "10.0.0.2" and first["data"][1]["target_ids"] == [1]
    second = operator_api.get("/api/audit", {"page_size": 3, "cursor": first["next_cursor"]}).json()
    assert [e["action"] for e in second["data"]] == ["pause.create"] and second["next_cursor"] is None


@pytest.mark.parametrize(("params", "expected"), [
    ({"actor": "alice"}, ["tenant.update", "pause.create"]),
    ({"action": "task.cancel"}, ["task.cancel"]),
    ({"action": "tasks"}, ["tasks.requeue"]),
    ({"tenant": "acme"}, ["tenant.update"]),
    ({"tenant": "nobody"}, []),
])
def test_the_api_filters(operator_api: Caller, log: list[AuditEntry], params: dict[str, str],
                         expected: list[str]) -> None:
    data = operator_api.get("/api/audit", params).json()["data"]
    assert [e["action"] for e in data] == expected


def test_the_api_filters_by_time_and_names_a_bad_value(operator_api: Caller, log: list[AuditEntry]) -> None:
    since = (clock.now() - timedelta(days=6)).isoformat()
    until = (clock.now() - timedelta(hours=12)).isoformat()
    data = operator_api.get("/api/audit", {"since": since, "until": until}).json()["data"]
    assert [e["action"] for e in data] == ["task.cancel", "tenant.update"]
    assert_problem(operator_api.get("/api/audit", {"since": "yesterday"}), 400, "since")
    assert_problem(operator_api.get("/api/audit", {"cursor": "nope"}), 400, "cursor")


def test_the_api_has_no_write(operator_api: Caller, log: list[AuditEntry]) -> None:
    assert operator_api.post("/api/audit", {"action": "x"}).status_code == 405
    assert operator_api.client.delete("/api/audit").status_code == 405
    assert AuditEntry.objects.count() == len(log)


def test_the_console_page_needs_its_view_permission(operator: Client, viewer: Client,
                                                    log: list[AuditEntry]) -> None:
    assert viewer.get("/audit/").status_code == 403
    assert "Audit log" not in viewer.get("/tasks/").content.decode(), "no link for who may not see it"
    page = operator.get("/audit/")
    assert page.status_code == 200
    body = page.content.decode()
    assert body.count("data-entry=") == len(log) and 'href="/audit/"' in body
    filtered = operator.get("/audit/", {"actor": "abc123"}).content.decode()
    assert filtered.count("data-entry=") == 2 and "tasks.requeue" in filtered
    bad = operator.get("/audit/", {"since": "not a date"})
    assert bad.status_code == 400 and 'role="alert"' in bad.content.decode()


def test_the_console_pages_by_keyset(operator: Client, log: list[AuditEntry], monkeypatch: Any) -> None:
    from dashboard.views import audit as view

    monkeypatch.setattr(view, "PAGE_SIZE", 3)
    body = operator.get("/audit/").content.decode()
    assert body.count("data-entry=") == 3 and 'rel="next"' in body
    older = operator.get("/audit/", {"after": log[1].pk}).content.decode()
    assert older.count("data-entry=") == 1 and f'data-entry="{log[0].pk}"' in older


def test_the_command_prints_lines_and_json(log: list[AuditEntry]) -> None:
    lines = run("audit", "--since", "7d").splitlines()
    assert len(lines) == 3 and "tasks.requeue" in lines[0] and "alice (console from 10.0.0.1)" in lines[2]
    rows = [json.loads(line) for line in run("audit", "--json", "--actor", "abc123", "--limit", "1").splitlines()]
    assert [(r["action"], r["actor"], r["counts"]) for r in rows] == [("tasks.requeue", "abc123", {"requeued": 3})]
    assert json.loads(run("audit", "--json", "--tenant", "acme"))["target"] == "tenant acme"
    assert run("audit", "--action", "grant") == "no entries\n"


@pytest.mark.parametrize("args", [["--since", "last week"], ["--until", "5x"], ["--limit", "0"]])
def test_the_command_refuses_bad_input(log: list[AuditEntry], args: list[str]) -> None:
    with pytest.raises(CommandError):
        run("audit", *args)


def test_entries_are_immutable(log: list[AuditEntry]) -> None:
    entry = log[0]
    entry.action = "changed"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="changed")
    assert AuditEntry.objects.get(pk=entry.pk).action == "pause.create"


def test_pruning_removes_only_entries_past_the_retention(log: list[AuditEntry], settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "AUDIT_RETENTION_SECONDS": 3 * 86400}
    maintenance.prune_side_tables()  # the workers' periodic pruning
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == ["task.cancel",
                                                                                       "tasks.requeue"]
    settings.JOBS = {**settings.JOBS, "AUDIT_RETENTION_SECONDS": 12 * 3600}
    assert "pruned 1 audit" in run("prune")
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["tasks.requeue"]
    settings.JOBS = {**settings.JOBS, "AUDIT_RETENTION_SECONDS": 0}
    assert "audit" not in run("prune")
    assert AuditEntry.objects.count() == 1, "0 keeps every entry"
