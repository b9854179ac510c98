"""/api/schedules: operator keys create, read, change, fire and delete; tenant keys get 403; bad input 400."""

import json
from typing import Any

import pytest

from jobs.models import AuditEntry, Schedule, ScheduleTick, Task
from tests.support.api import Caller, assert_problem

pytestmark = pytest.mark.django_db


def patch(caller: Caller, path: str, body: Any) -> Any:
    return caller.client.patch(path, json.dumps(body), content_type="application/json")


def test_operator_manages_a_schedule(operator_api: Caller, api: Caller) -> None:
    response = operator_api.post("/api/schedules", {"name": "hourly-report", "tenant": "acme", "type": "noop",
                                                    "cron": "0 * * * *", "timezone": "America/New_York",
                                                    "payload": {"report": "h"}, "options": {"max_retries": 0}})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["tenant"], body["expression"], body["timezone"], body["enabled"], body["source"],
            body["missed"], body["drift"], body["last_outcome"]) == (
        "hourly-report", "acme", "0 * * * *", "America/New_York", True, "runtime", "latest", [], "")
    assert body["next_run_at"] is not None
    assert [s["name"] for s in operator_api.get("/api/schedules").json()] == ["hourly-report"]
    changed = patch(operator_api, "/api/schedules/hourly-report", {"every": "5m", "enabled": False})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["cron"], changed.json()["every"], changed.json()["expression"],
            changed.json()["enabled"]) == ("", 300, "every 5m", False)
    fired = operator_api.post("/api/schedules/hourly-report/run")
    assert fired.status_code == 201, fired.content
    task = Task.objects.get()
    assert fired.json()["task"] == task.pk and fired.json()["error"] == ""
    assert (task.tenant_id, task.payload, task.max_retries) == (api.tenant.pk, {"report": "h"}, 0)
    detail = operator_api.get("/api/schedules/hourly-report").json()
    assert (detail["last_task"], detail["last_outcome"]) == (task.pk, "pending")
    assert operator_api.client.delete("/api/schedules/hourly-report").status_code == 204
    assert not Schedule.objects.exists() and not ScheduleTick.objects.exists()
    entries = list(AuditEntry.objects.filter(action__startswith="schedule.").order_by("pk"))
    assert [e.action for e in entries] == ["schedule.create", "schedule.update", "schedule.run_now",
                                           "schedule.delete"]
    assert {(e.actor_kind, e.actor, e.source) for e in entries} == {("key", operator_api.key.prefix, "api")}
    assert entries[1].detail["changes"]["every"] == [None, 300]


@pytest.mark.parametrize(("body", "field"), [
    ({"tenant": "acme", "type": "noop", "every": "1m"}, "name"),
    ({"name": "a b", "tenant": "acme", "type": "noop", "every": "1m"}, "name"),
    ({"name": "x", "tenant": "acme", "type": "noop"}, "cron"),
    ({"name": "x", "tenant": "acme", "type": "noop", "cron": "* * 32 * *"}, "cron"),
    ({"name": "x", "tenant": "acme", "type": "noop", "cron": "1 2 3"}, "cron"),
    ({"name": "x", "tenant": "acme", "type": "noop", "cron": "* * * * *", "every": "1m"}, "cron"),
    ({"name": "x", "tenant": "acme", "type": "noop", "every": "fortnightly"}, "every"),
    ({"name": "x", "tenant": "acme", "type": "noop", "every": -3}, "every"),
    ({"name": "x", "tenant": "acme", "type": "noop", "every": "1m", "timezone": "Europe/Atlantis"}, "timezone"),
    ({"name": "x", "tenant": "nobody", "type": "noop", "every": "1m"}, "tenant"),
    ({"name": "x", "tenant": "acme", "type": "ghost", "every": "1m"}, "type"),
    ({"name": "x", "tenant": "acme", "type": "noop", "every": "1m", "payload": [1]}, "payload"),
    ({"name": "x", "tenant": "acme", "type": "noop", "every": "1m", "priority": 9}, "priority"),
    ({"name": "x", "tenant": "acme", "type": "noop", "every": "1m", "missed": "some"}, "missed"),
    ({"name": "x", "tenant": "acme", "type": "noop", "every": "1m", "missed_limit": 0}, "missed_limit"),
    ({"name": "x", "tenant": "acme", "type": "noop", "every": "1m", "enabled": "yes"}, "enabled"),
    ({"name": "x", "tenant": "acme", "type": "noop", "every": "1m", "options": {"run_at": "x"}}, "options.run_at"),
    ({"name": "x", "tenant": "acme", "type": "noop", "every": "1m", "colour": "red"}, "colour"),
])
def test_bad_definitions_are_400_naming_the_field(operator_api: Caller, api: Caller, body: dict[str, Any],
                                                  field: str) -> None:
    assert_problem(operator_api.post("/api/schedules", body), 400, field)
    assert not Schedule.objects.exists()


def test_a_bad_change_is_400_and_changes_nothing(operator_api: Caller, api: Caller) -> None:
    operator_api.post("/api/schedules", {"name": "s", "tenant": "acme", "type": "noop", "every": 60})
    assert_problem(patch(operator_api, "/api/schedules/s", {"cron": "every day"}), 400, "cron")
    assert_problem(patch(operator_api, "/api/schedules/s", {"timezone": "Nowhere"}), 400, "timezone")
    assert_problem(patch(operator_api, "/api/schedules/s", [1]), 400, "body")
    assert Schedule.objects.get().every == 60


def test_tenant_keys_get_403_and_unknown_names_404(operator_api: Caller, api: Caller) -> None:
    operator_api.post("/api/schedules", {"name": "s", "tenant": "acme", "type": "noop", "every": 60})
    for response in (api.get("/api/schedules"), api.get("/api/schedules/s"), api.post("/api/schedules/s/run"),
                     api.post("/api/schedules", {"name": "t", "tenant": "acme", "type": "noop", "every": 60}),
                     api.client.delete("/api/schedules/s"), patch(api, "/api/schedules/s", {"enabled": False})):
        assert_problem(response, 403)
    assert Schedule.objects.get().enabled and not Task.objects.exists()
    for response in (operator_api.get("/api/schedules/ghost"), operator_api.post("/api/schedules/ghost/run"),
                     operator_api.client.delete("/api/schedules/ghost"),
                     patch(operator_api, "/api/schedules/ghost", {"enabled": False})):
        assert_problem(response, 404)


def test_behind_a_proxy_a_change_is_audited_with_the_clients_address(operator_api: Caller, api: Caller,
                                                                   settings: Any) -> None:
    settings.LOGIN_PROXY_COUNT = 1  # nginx in front appends the address it was called from
    response = operator_api.post("/api/schedules", {"name": "nightly", "tenant": "acme", "type": "noop",
                                                    "cron": "0 3 * * *"},
                                 REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR="198.51.100.4")
    assert response.status_code == 201, response.content
    entry = AuditEntry.objects.get(action__startswith="schedule.")
    assert entry.address == "198.51.100.4", "the client nginx saw, not nginx's own address"
