"""The lean request path of ``POST /api/tasks`` and the single-task reads: the statements one
enqueue issues, pinned, and the plain-dict responses (``jobs.api.representation``) equal to what
the schema's serializers say, for tasks in every state."""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from jobs.api import representation
from jobs.api.serializers import TaskDetailSerializer, TaskSerializer, TaskSubmittedSerializer
from jobs.context import TaskContext
from jobs.lifecycle import Status
from jobs.models import Task
from jobs.registry import task
from jobs.services import grants
from tests.support.api import Caller, MakeApi
from tests.support.builders import add_task, claim, error_entry, failed_task, set_status


def _noop(payload: dict[str, Any], ctx: TaskContext) -> None:
    return None


# A listed type (needs a grant): its grants are read once per key verification, not per request.
task("lean_listed", access="listed")(_noop)


def _kinds(queries: CaptureQueriesContext) -> list[str]:
    """Each statement as ``VERB table`` (``BEGIN``, ``COMMIT``, ``SAVEPOINT`` as they are)."""
    out = []
    for q in queries.captured_queries:
        sql = q["sql"].replace("`", '"').strip()
        verb = sql.split()[0].upper()
        table = ""
        if verb in {"INSERT", "UPDATE", "DELETE", "SELECT"}:
            after = {"INSERT": " INTO ", "UPDATE": "UPDATE ", "DELETE": " FROM ", "SELECT": " FROM "}[verb]
            table = sql.split(after, 1)[1].split()[0].strip('"') if after in sql else ""
        out.append(f"{verb} {table}".strip())
    return out


# A plain single enqueue, warm (the key verified and cached, the database clock measured this minute):
#   BEGIN                 the one transaction (the task and its outbox event commit together)
#   INSERT jobs_task      the task itself; the unique indexes guard idempotency and unique keys
#   INSERT jobs_event     its task.created event (the outbox: streams, the console, the audit of changes)
#   COMMIT
# Nothing else: the key, its tenant's queues, caps and rate limit come with the cached verification;
# the rate limit and the worker wake-up (after the commit) are Redis (or in-process), not SQL.
PLAIN_ENQUEUE = ["BEGIN", "INSERT jobs_task", "INSERT jobs_event", "COMMIT"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("spec", [
    {},
    {"queue": "acme", "priority": 5, "payload": {"n": 1}},  # a named queue: the allow-list comes with the key
    {"type": "lean_listed"},  # a listed type: the grants come with the key's verification
], ids=["plain", "named-queue", "listed-type"])
def test_a_warm_single_enqueue_is_one_transaction_of_two_inserts(
        make_api: MakeApi, spec: dict[str, Any], django_assert_max_num_queries: Any) -> None:
    caller = make_api("acme")
    grants.grant(caller.tenant, "lean_listed")
    body = {"type": "noop", **spec}
    assert caller.post("/api/tasks", body).status_code == 201  # verifies the key, records its use
    with django_assert_max_num_queries(len(PLAIN_ENQUEUE)), CaptureQueriesContext(connection) as queries:
        response = caller.post("/api/tasks", body)
    assert response.status_code == 201, response.content
    assert _kinds(queries) == PLAIN_ENQUEUE, [q["sql"][:120] for q in queries.captured_queries]
    assert Task.objects.filter(tenant=caller.tenant).count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_enqueue_with_keys_adds_one_lookup_per_key_before_its_transaction(make_api: MakeApi) -> None:
    """Idempotency and unique keys are looked up first (a replay or a duplicate is answered uncharged),
    then inserted at once: the unique indexes catch a key taken since."""
    caller = make_api("acme")
    assert caller.submit().status_code == 201
    with CaptureQueriesContext(connection) as queries:
        response = caller.submit(idempotency_key="i-1", unique_key="u-1")
    assert response.status_code == 201, response.content
    assert _kinds(queries) == ["SELECT jobs_task", "SELECT jobs_task", *PLAIN_ENQUEUE]
    with CaptureQueriesContext(connection) as queries:
        replay = caller.submit(idempotency_key="i-1", unique_key="u-1")
    assert (replay.status_code, replay.json()["id"]) == (200, response.json()["id"])
    assert _kinds(queries) == ["SELECT jobs_task"]  # the replay: nothing written


def test_an_uncapped_tenant_costs_no_admission_query(api: Caller) -> None:
    assert api.submit().status_code == 201
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert api.submit().status_code == 201
    assert not [q for q in queries.captured_queries if "tenants_tenant" in q["sql"].replace("`", '"')]


# =========================================================================== the plain responses


def _rendered(data: Any) -> Any:
    return json.loads(JSONRenderer().render(data))


def _tasks_in_every_state(caller: Caller) -> list[Task]:
    tenant = caller.tenant
    now = timezone.now()
    made = [claim(add_task(tenant, max_retries=2))]  # first: the claim takes the tenant's first pending task
    made.append(Task.objects.get(pk=caller.submit(payload={"a": [1, {"b": None}]}, priority=4).json()["id"]))
    made.append(Task.objects.get(pk=caller.submit(delay_seconds=3600, idempotency_key="later").json()["id"]))
    made.append(Task.objects.get(pk=caller.submit(
        unique_key="u", unique_for=600, concurrency_key="ck", concurrency_limit=2, max_lost=3).json()["id"]))
    made.append(set_status(add_task(tenant), Status.COMPLETED, result={"ok": True, "n": 1.5},
                           started_at=now - timedelta(seconds=2), finished_at=now, worker="host:1:w"))
    failed = failed_task(tenant, "noop", ("ValueError", "bad"), ("KeyError", "worse"))
    entry = error_entry(3, "OSError", "no traceback kept")
    del entry["traceback"]
    made.append(set_status(failed, Status.FAILED, errors=[*failed.errors, entry]))
    made.append(set_status(add_task(tenant), Status.CANCELLED, cancel_requested=True, finished_at=now))
    made.append(set_status(add_task(tenant, resource="api", concurrency_key="k"), Status.BLOCKED,
                           blocked_on="key"))
    # A key whose window has passed: no longer held.
    made.append(add_task(tenant, unique_key="gone", unique_active="gone", unique_states=1,
                         created_at=now - timedelta(hours=2), unique_until=now - timedelta(hours=1)))
    return [Task.objects.select_related("tenant").get(pk=t.pk) for t in made]


def test_the_plain_responses_are_the_serializers_responses(api: Caller) -> None:
    rows = _tasks_in_every_state(api)
    assert {t.status for t in rows} >= {Status.PENDING, Status.SCHEDULED, Status.RUNNING, Status.COMPLETED,
                                        Status.FAILED, Status.CANCELLED, Status.BLOCKED}
    for row in rows:
        for plain, serializer in ((representation.task(row), TaskSerializer(row).data),
                                  (representation.detail(row), TaskDetailSerializer(row).data)):
            assert list(plain) == list(serializer), row  # the same fields, in the same order
            assert plain == serializer, row
            assert _rendered(plain) == _rendered(serializer), row
    assert list(representation.submitted(rows[0], duplicate=False)) == list(TaskSubmittedSerializer().fields)


def test_the_api_answers_with_the_plain_responses(api: Caller) -> None:
    created = api.submit(payload={"x": 1}, unique_key="one")
    assert created.status_code == 201
    row = Task.objects.select_related("tenant").get(pk=created.json()["id"])
    assert created.json() == _rendered({**TaskSerializer(row).data, "duplicate": False})
    duplicate = api.submit(payload={"x": 2}, unique_key="one")
    assert (duplicate.status_code, duplicate.json()) == (200, _rendered({**TaskSerializer(row).data,
                                                                           "duplicate": True}))
    assert api.get(f"/api/tasks/{row.pk}").json() == _rendered(TaskDetailSerializer(row).data)
    full = _rendered(TaskSerializer(row).data)
    listed = api.get("/api/tasks").json()["data"]
    assert listed == [{k: v for k, v in full.items() if k not in ("payload", "result")}], "list rows are lean"
    assert api.get("/api/tasks", {"expand": "payload,result"}).json()["data"] == [full]
    cancelled = api.post(f"/api/tasks/{row.pk}/cancel")
    row.refresh_from_db()
    assert cancelled.json() == _rendered(TaskSerializer(row).data) and row.status == Status.CANCELLED
