"""``/api/bulk``: start at once, the same action once, progress, tenant scope, field errors."""

from typing import Any

import pytest

from jobs.lifecycle import Status
from jobs.models import BulkAction
from tests.support.api import Caller, assert_problem
from tests.support.builders import add_task
from tests.support.bulk import run_bulk_jobs
from tests.support.console import statuses

pytestmark = pytest.mark.django_db


def test_a_tenant_cancels_its_own_matching_tasks_in_the_background(api: Caller, other_api: Caller) -> None:
    mine = [add_task(api.tenant, "send_email") for _ in range(3)]
    theirs = add_task(other_api.tenant, "send_email")
    response = api.post("/api/bulk", {"action": "cancel", "filter": {"type": "send_email"}})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["state"] == "queued" and body["duplicate"] is False
    again = api.post("/api/bulk", {"action": "cancel", "filter": {"type": "send_email"}})
    assert again.status_code == 200 and again.json()["id"] == body["id"] and again.json()["duplicate"] is True
    assert statuses(*mine) == [Status.PENDING] * 3
    run_bulk_jobs()
    progress = api.get(f"/api/bulk/{body['id']}").json()
    assert (progress["state"], progress["done"], progress["expected"]) == ("done", 3, 3)
    assert statuses(*mine) == [Status.CANCELLED] * 3 and statuses(theirs) == [Status.PENDING]
    assert_problem(other_api.get(f"/api/bulk/{body['id']}"), 404)  # another tenant's action is not there


def test_an_operator_acts_on_every_tenant_only_with_all(api: Caller, operator_api: Caller) -> None:
    task = add_task(api.tenant, "send_email")
    response = operator_api.post("/api/bulk", {"action": "cancel", "filter": {"type": "send_email"}})
    assert response.status_code == 202
    assert BulkAction.objects.get(pk=response.json()["id"]).tenant_id == operator_api.tenant.pk
    every = operator_api.post("/api/bulk?all=true", {"action": "cancel", "filter": {"type": "send_email"}})
    assert every.status_code == 202 and BulkAction.objects.get(pk=every.json()["id"]).tenant_id is None
    assert_problem(api.post("/api/bulk?all=true", {"action": "cancel"}), 403)
    run_bulk_jobs()
    assert statuses(task) == [Status.CANCELLED]


@pytest.mark.parametrize(("body", "field"), [
    ({"action": "explode"}, "action"),
    ({"action": "cancel", "filter": {"stauts": "failed"}}, "filter.stauts"),
    ({"action": "cancel", "filter": {"created_after": "yesterday"}}, "filter.created_after"),
    ({"action": "cancel", "colour": "red"}, "colour"),
    ({"action": "requeue-dead", "filter": {"type": "x"}}, "filter"),
])
def test_bad_bodies_name_the_field(api: Caller, body: dict[str, Any], field: str) -> None:
    assert_problem(api.post("/api/bulk", body), 400, field)
    assert not BulkAction.objects.exists()


def test_stop_and_a_stop_after_the_end(api: Caller) -> None:
    add_task(api.tenant, "send_email")
    started = api.post("/api/bulk", {"action": "cancel", "filter": {"type": "send_email"}}).json()
    assert api.post(f"/api/bulk/{started['id']}/stop").status_code == 202
    assert BulkAction.objects.get(pk=started["id"]).task.status == Status.CANCELLED
    assert_problem(api.post(f"/api/bulk/{started['id']}/stop"), 409)
