"""A tenant may only submit what it was given (review M10, L10, L16, H1–H3): task types per tenant,
queues per tenant, per-type bounds on what an API caller may set, bounded results, demo types gated."""

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.models import Q
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.apps import demo_types_enabled
from jobs.context import TaskContext
from jobs.exceptions import InvalidTask
from jobs.lifecycle import Status
from jobs.models import Task, TypeGrant
from jobs.registry import task
from jobs.services import grants
from jobs.services.enqueue import build_many, enqueue
from jobs.store import finish
from tenants.models import Tenant
from tests.support.api import Caller, assert_problem
from tests.support.builders import claim
from tests.support.production import manage, production_env


def _echo(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return {"blob": "x" * int(payload.get("size", 0))}


# The types these tests need, beside the demo ones (names no other test uses).
task("sec_listed", access="listed")(_echo)
task("sec_other_listed", access="listed")(_echo)
task("sec_internal", internal=True)(_echo)
task("sec_long", timeout=60, max_timeout=600, min_timeout=10)(_echo)
task("sec_few_retries", max_retries=1, max_retries_cap=2)(_echo)
task("sec_reports", queue="reports")(_echo)
task("sec_small_payload", max_payload_bytes=100)(_echo)
task("sec_small_result", max_result_bytes=1000)(_echo)


def _errors(response: Any) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.json()["errors"]}


# -- task types per tenant ------------------------------------------------------------------------------


def test_a_listed_type_is_refused_without_a_grant_and_the_answer_lists_only_the_callers_types(
        api: Caller, other_api: Caller) -> None:
    grants.grant(other_api.tenant, "sec_other_listed")
    response = api.submit("sec_listed")
    assert_problem(response, 400, "type")
    message = _errors(response)["type"]
    assert "unknown task type 'sec_listed'" in message
    listed = message.split("your types:")[1].replace(",", " ").split()
    assert "noop" in listed and "sec_long" in listed, "the open types are listed"
    for hidden in ("sec_listed", "sec_other_listed", "sec_internal", "django_task"):
        assert hidden not in listed, hidden
    # An unknown name answers alike: a forbidden type is not told apart from a missing one.
    assert _errors(api.submit("no_such_type"))["type"].split(";")[1] == message.split(";")[1]
    assert not Task.objects.filter(tenant=api.tenant).exists()
    assert other_api.submit("sec_other_listed").status_code == 201


def test_a_granted_listed_type_is_accepted_and_listed_for_that_tenant_only(api: Caller, other_api: Caller) -> None:
    grant, created = grants.grant(api.tenant, "sec_listed")
    assert created and grants.grant(api.tenant, "sec_listed") == (grant, False)
    response = api.submit("sec_listed", payload={"size": 1})
    assert response.status_code == 201, response.content
    assert grants.granted(api.tenant) == ["sec_listed"]
    assert "sec_listed" in grants.usable_types(api.tenant)
    assert "sec_listed" not in grants.usable_types(other_api.tenant)
    assert "sec_listed" in _errors(api.submit("no_such_type"))["type"]
    assert_problem(other_api.submit("sec_listed"), 400, "type")
    assert grants.revoke(api.tenant, "sec_listed") and not grants.revoke(api.tenant, "sec_listed")
    assert_problem(api.submit("sec_listed"), 400, "type")


def test_an_internal_type_is_never_submitted_over_the_api(api: Caller) -> None:
    assert_problem(api.submit("sec_internal"), 400, "type")
    with pytest.raises(InvalidTask):
        grants.grant(api.tenant, "sec_internal")


def test_python_enqueue_is_not_restricted_to_granted_types(api: Caller) -> None:
    assert enqueue("sec_listed", tenant=api.tenant).type == "sec_listed"


def test_a_batch_with_one_forbidden_item_is_refused_naming_its_index(api: Caller) -> None:
    response = api.batch([{"type": "noop"}, {"type": "sec_listed"}, {"type": "noop"}])
    assert_problem(response, 400, "tasks[1].type")
    assert list(_errors(response)) == ["tasks[1].type"]
    assert not Task.objects.filter(tenant=api.tenant).exists(), "all or nothing"


def test_a_batch_reads_the_grants_once_not_once_per_task(api: Caller) -> None:
    grants.grant(api.tenant, "sec_listed")
    with CaptureQueriesContext(connection) as ctx:
        tasks = build_many([{"type": "sec_listed", "queue": "acme"}] * 200, tenant=api.tenant, public=True)
    assert len(tasks) == 200
    grant_reads = [q for q in ctx.captured_queries if TypeGrant._meta.db_table in q["sql"]]
    assert len(grant_reads) == 1, grant_reads


def test_only_registered_listed_types_can_be_granted(api: Caller) -> None:
    for name, says in (("no_such_type", "unknown task type"), ("noop", "open to every tenant")):
        with pytest.raises(grants.InvalidGrant) as info:
            grants.grant(api.tenant, name)
        assert info.value.field == "type" and says in info.value.message
    assert not TypeGrant.objects.exists()


def test_the_admin_grants_listed_types_and_deleting_revokes(api: Caller, admin_client: Client) -> None:
    form = admin_client.get("/admin/jobs/typegrant/add/").content.decode()
    assert 'value="sec_listed"' in form and 'value="noop"' not in form, "only listed types are offered"
    refused = admin_client.post("/admin/jobs/typegrant/add/", {"tenant": api.tenant.pk, "type": "noop"})
    assert refused.status_code == 200 and not TypeGrant.objects.exists()
    added = admin_client.post("/admin/jobs/typegrant/add/", {"tenant": api.tenant.pk, "type": "sec_listed"})
    assert added.status_code == 302, added.content.decode()[:3000]
    row = TypeGrant.objects.get()
    assert (row.tenant_id, row.type) == (api.tenant.pk, "sec_listed")
    assert "sec_listed" in admin_client.get("/admin/jobs/typegrant/").content.decode()
    assert api.submit("sec_listed").status_code == 201
    deleted = admin_client.post(f"/admin/jobs/typegrant/{row.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302 and not TypeGrant.objects.exists()
    assert_problem(api.submit("sec_listed"), 400, "type")


# -- queues per tenant --------------------------------------------------------------------------------


def test_a_caller_may_name_only_its_own_queues(api: Caller) -> None:
    response = api.submit(queue="globex")
    assert_problem(response, 400, "queue")
    assert "acme, default" in _errors(response)["queue"]
    for queue in ("acme", "default"):
        response = api.submit(queue=queue)
        assert response.status_code == 201, response.content
        assert response.json()["queue"] == queue
    # A type's own queue stays usable (named or not); a caller naming none gets the default.
    assert api.submit("sec_reports").json()["queue"] == "reports"
    assert api.submit("sec_reports", queue="reports").status_code == 201
    assert api.submit().json()["queue"] == "default"
    assert enqueue("noop", tenant=api.tenant, queue="anything").queue == "anything", "Python is trusted"


def test_allowed_queues_replace_the_default_set(api: Caller) -> None:
    Tenant.objects.filter(pk=api.tenant.pk).update(allowed_queues=["bulk", "emails"])
    assert api.submit(queue="bulk").status_code == 201
    response = api.submit(queue="acme")
    assert_problem(response, 400, "queue")
    assert "bulk, emails" in _errors(response)["queue"]
    assert_problem(api.batch([{"type": "noop", "queue": "emails"}, {"type": "noop", "queue": "default"}]), 400,
                   "tasks[1].queue")


# -- per-type bounds ------------------------------------------------------------------------------------


def test_a_caller_may_shorten_a_types_timeout_but_not_lengthen_it(api: Caller) -> None:
    assert_problem(api.submit("noop", timeout_seconds=31), 400, "timeout_seconds")  # noop's own timeout is 30
    assert "between 1 and 30" in _errors(api.submit("noop", timeout_seconds=604800))["timeout_seconds"]
    for within in (1, 30):
        assert api.submit("noop", timeout_seconds=within).json()["timeout_seconds"] == within
    # A type may let callers go further, and refuse too short a run.
    assert api.submit("sec_long", timeout_seconds=600).status_code == 201
    assert_problem(api.submit("sec_long", timeout_seconds=601), 400, "timeout_seconds")
    assert_problem(api.submit("sec_long", timeout_seconds=9), 400, "timeout_seconds")
    assert enqueue("noop", tenant=api.tenant, timeout=3600).timeout == 3600, "Python keeps the global bound"


def test_max_retries_is_capped_per_type(api: Caller, settings: Any) -> None:
    assert_problem(api.submit("noop", max_retries=26), 400, "max_retries")
    assert api.submit("noop", max_retries=25).status_code == 201
    assert_problem(api.submit("sec_few_retries", max_retries=3), 400, "max_retries")
    assert api.submit("sec_few_retries", max_retries=2).status_code == 201
    settings.JOBS = {**settings.JOBS, "MAX_RETRIES_CAP": 2}
    assert "between 0 and 2" in _errors(api.submit("noop", max_retries=3))["max_retries"]
    assert enqueue("noop", tenant=api.tenant, max_retries=100).max_retries == 100, "Python keeps the global bound"


def test_the_payload_is_bounded_per_type(api: Caller) -> None:
    response = api.submit("sec_small_payload", payload={"text": "y" * 200})
    assert_problem(response, 413, "payload")
    assert "over the limit of 100" in _errors(response)["payload"]
    assert api.submit("sec_small_payload", payload={"text": "y" * 50}).status_code == 201
    assert api.submit("noop", payload={"text": "y" * 200}).status_code == 201


def test_run_at_is_at_most_a_year_ahead(api: Caller) -> None:
    assert_problem(api.submit(run_at="9999-01-01T00:00:00+00:00"), 400, "run_at")
    too_far = (timezone.now() + timedelta(days=400)).isoformat()
    assert_problem(api.submit(run_at=too_far), 400, "run_at")
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=api.tenant, run_at=too_far)
    assert info.value.field == "run_at"
    assert api.submit(run_at=(timezone.now() + timedelta(days=300)).isoformat()).status_code == 201


# -- results over the type's bound ----------------------------------------------------------------------


def test_a_result_over_the_types_bound_fails_its_task_and_the_batch_writes_the_others(tenant: Tenant) -> None:
    tasks = [claim(enqueue("sec_small_result", tenant=tenant), worker="w1") for _ in range(4)]
    results = [{"blob": "x" * 10}, {"blob": "x" * 5000}, {"blob": "x" * 10}, {"blob": "x" * 10}]
    outcomes = [finish.succeeded(t, result) for t, result in zip(tasks, results, strict=True)]
    assert finish.write(outcomes, fence=Q(worker="w1")) == 4, "one batch, every row written"
    rows = {t.pk: t for t in Task.objects.filter(pk__in=[t.pk for t in tasks])}
    big = rows[tasks[1].pk]
    assert big.status == Status.FAILED and big.result is None
    assert big.errors[-1]["type"] == "ResultTooLarge"
    assert re.match(r"result of \d+ bytes is over the limit of 1000\b", big.errors[-1]["message"])
    assert [rows[t.pk].status for t in tasks] == [Status.COMPLETED, Status.FAILED, Status.COMPLETED,
                                                  Status.COMPLETED]


def test_a_worker_runs_a_batch_with_one_result_over_the_bound(tenant: Tenant, inprocess_worker: Any) -> None:
    sizes = [10, 5000, 10, 10]
    tasks = [enqueue("sec_small_result", tenant=tenant, payload={"size": n}, max_retries=3) for n in sizes]
    inprocess_worker.burst(threads=2)
    rows = {t.pk: t for t in Task.objects.filter(pk__in=[t.pk for t in tasks])}
    big = rows[tasks[1].pk]
    assert big.status == Status.FAILED and big.attempts == 1, "deterministic: not retried"
    assert "over the limit of 1000" in big.errors[-1]["message"]
    for t in (tasks[0], tasks[2], tasks[3]):
        assert rows[t.pk].status == Status.COMPLETED and rows[t.pk].result == {"blob": "x" * 10}


# -- demo types -----------------------------------------------------------------------------------------


def _registered_in(env: dict[str, str]) -> list[str]:
    done = manage(env, "shell", "-c", "import json; from jobs.registry import registry; print(json.dumps("
                                      "registry.names()))")
    assert done.returncode == 0, done.stdout + done.stderr
    names: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return names


def test_production_settings_register_no_demo_types_unless_asked(tmp_path: Path) -> None:
    production = _registered_in(production_env(tmp_path))
    assert "django_task" in production
    assert not {"noop", "sleep", "fail", "send_email"} & set(production)
    asked = _registered_in(production_env(tmp_path, JOBS_DEMO_TYPES="1"))
    assert {"noop", "sleep", "fail", "send_email"} <= set(asked)


@pytest.mark.parametrize(("production", "jobs", "enabled"), [
    (False, {}, True),
    (True, {}, False),
    (True, {"DEMO_MODE": True}, True),
    (True, {"DEMO_TYPES": True}, True),
    (False, {"DEMO_TYPES": False}, False),
])
def test_demo_types_are_on_outside_production_or_when_asked(settings: Any, production: bool, jobs: dict[str, Any],
                                                            enabled: bool) -> None:
    settings.PRODUCTION = production
    settings.JOBS = {**settings.JOBS, **jobs}
    assert demo_types_enabled() is enabled

