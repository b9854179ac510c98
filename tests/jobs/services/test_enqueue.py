"""The Python enqueue API (jobs.services.enqueue) and the operator actions (jobs.services.control)."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.conf import conf
from jobs.exceptions import InvalidBatch, InvalidTask, InvalidTransition, UnknownTaskType
from jobs.lifecycle import Status
from jobs.models import Task, TaskQuerySet
from jobs.notify import wakeup
from jobs.services import control
from jobs.services.enqueue import build_task, enqueue, enqueue_many, enqueue_or_get
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def announcements(settings: Any, tmp_path: Any) -> Iterator[list[bytes]]:
    """Every wake-up announced in this process, in order."""
    # Keep socket wake-ups away from any worker another run may have under var/.
    settings.VAR_DIR = tmp_path
    seen: list[bytes] = []

    def record(sender: Any, kind: bytes, **_: Any) -> None:
        seen.append(kind)

    wakeup.announced.connect(record)
    yield seen
    wakeup.announced.disconnect(record)


def set_status(task: Task, status: str, **fields: Any) -> Task:
    Task.objects.filter(pk=task.pk).update(status=status, **fields)
    task.refresh_from_db()
    return task


# --------------------------------------------------------------------------- validation


def test_unknown_type_lists_the_known_types(tenant: Tenant) -> None:
    with pytest.raises(UnknownTaskType) as info:
        enqueue("no_such_type", tenant=tenant)
    assert info.value.field == "type"
    message = str(info.value)
    assert "no_such_type" in message
    assert "noop" in message
    assert "sleep" in message
    assert "stubborn" in message  # the test app's types are registered too
    assert not Task.objects.exists()


def test_unknown_type_is_an_invalid_task(tenant: Tenant) -> None:
    with pytest.raises(InvalidTask):
        build_task(tenant, {"type": "no_such_type"})


def test_type_is_required(tenant: Tenant) -> None:
    with pytest.raises(InvalidTask) as info:
        build_task(tenant, {"payload": {}})
    assert info.value.field == "type"


def test_unknown_spec_field_is_rejected(tenant: Tenant) -> None:
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=tenant, colour="blue")
    assert info.value.field == "colour"
    assert not Task.objects.exists()


def test_payload_object_is_stored(tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant, payload={"to": "a@example.com", "n": [1, 2]})
    task.refresh_from_db()
    assert task.payload == {"to": "a@example.com", "n": [1, 2]}


def test_payload_json_string_is_parsed(tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant, payload='{"seconds": 2}')
    task.refresh_from_db()
    assert task.payload == {"seconds": 2}


def test_missing_payload_is_an_empty_object(tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant)
    task.refresh_from_db()
    assert task.payload == {}


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ("{bad", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('"text"', "must be a JSON object"),
        ([1, 2], "must be a JSON object"),
        (42, "must be a JSON object"),
        ({"when": datetime(2030, 1, 1, tzinfo=UTC)}, "not JSON-serialisable"),
        ({"x": float("nan")}, "not JSON-serialisable"),
    ],
)
def test_bad_payload_is_rejected(tenant: Tenant, payload: Any, fragment: str) -> None:
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=tenant, payload=payload)
    assert info.value.field == "payload"
    assert fragment in info.value.message
    assert not Task.objects.exists()


def test_payload_over_the_size_limit_is_rejected(tenant: Tenant, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "MAX_PAYLOAD_BYTES": 100}
    assert conf().MAX_PAYLOAD_BYTES == 100
    at_limit = {"x": "a" * (100 - len('{"x": ""}'))}
    assert len(json.dumps(at_limit).encode()) == 100
    enqueue("noop", tenant=tenant, payload=at_limit)
    over = {"x": "a" * (101 - len('{"x": ""}'))}
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=tenant, payload=over)
    assert info.value.field == "payload"
    assert "101 bytes" in info.value.message
    assert "100" in info.value.message
    assert Task.objects.count() == 1


def test_payload_size_counts_utf8_bytes(tenant: Tenant, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "MAX_PAYLOAD_BYTES": 100}
    # 69 characters of JSON, but more than 100 bytes however it is encoded
    # (2 bytes per "é" in UTF-8, 6 as a \uXXXX escape).
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=tenant, payload={"x": "é" * 60})
    assert info.value.field == "payload"


@pytest.mark.parametrize("priority", [0, 6, -1, "3", True, False, 2.5, "high"])
def test_bad_priority_is_rejected(tenant: Tenant, priority: Any) -> None:
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=tenant, priority=priority)
    assert info.value.field == "priority"
    assert not Task.objects.exists()


@pytest.mark.parametrize("priority", [1, 5, 4.0])
def test_priority_within_range_is_accepted(tenant: Tenant, priority: Any) -> None:
    task = enqueue("noop", tenant=tenant, priority=priority)
    task.refresh_from_db()
    assert task.priority == int(priority)


@pytest.mark.parametrize(("field", "value"), [("max_retries", -1), ("max_retries", 101), ("timeout_seconds", 0)])
def test_bad_retries_or_timeout_is_rejected(tenant: Tenant, field: str, value: int) -> None:
    with pytest.raises(InvalidTask) as info:
        enqueue_or_get(tenant, {"type": "noop", field: value})
    assert info.value.field == field


def test_unknown_tenant_slug_is_rejected(db: None) -> None:
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant="no-such-tenant")
    assert info.value.field == "tenant"
    assert "no-such-tenant" in info.value.message
    assert not Task.objects.exists()


def test_unknown_tenant_id_is_rejected(db: None) -> None:
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=987654)
    assert info.value.field == "tenant"


def test_tenant_by_slug_or_id(tenant: Tenant) -> None:
    assert enqueue("noop", tenant="acme").tenant_id == tenant.pk
    assert enqueue("noop", tenant=tenant.pk).tenant_id == tenant.pk


@pytest.mark.parametrize("by", ["instance", "slug", "id"])
def test_inactive_tenant_is_rejected(db: None, by: str) -> None:
    sleepy = Tenant.objects.create(name="Sleepy", slug="sleepy", active=False)
    ref: Any = {"instance": sleepy, "slug": "sleepy", "id": sleepy.pk}[by]
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=ref)
    assert info.value.field == "tenant"
    assert "inactive" in info.value.message
    with pytest.raises(InvalidTask) as info:
        enqueue_many([{"type": "noop"}], tenant=ref)
    assert info.value.field == "tenant"
    assert not Task.objects.exists()


# --------------------------------------------------------------------------- timing


def test_no_delay_is_pending_now(tenant: Tenant) -> None:
    before = timezone.now()
    task = enqueue("noop", tenant=tenant)
    task.refresh_from_db()
    assert task.status == Status.PENDING
    assert before <= task.run_at <= timezone.now()


def test_delay_is_scheduled_in_the_future(tenant: Tenant) -> None:
    before = timezone.now()
    task = enqueue("noop", tenant=tenant, delay=60)
    after = timezone.now()
    task.refresh_from_db()
    assert task.status == Status.SCHEDULED
    assert before + timedelta(seconds=60) <= task.run_at <= after + timedelta(seconds=60)


def test_zero_delay_is_pending(tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant, delay_seconds=0)
    assert task.status == Status.PENDING


@pytest.mark.parametrize("delay", [-1, "60", True, 400 * 86400, float("nan")])
def test_bad_delay_is_rejected(tenant: Tenant, delay: Any) -> None:
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=tenant, delay=delay)
    assert info.value.field == "delay_seconds"
    assert not Task.objects.exists()


def test_aware_run_at_in_the_future_is_scheduled_at_that_time(tenant: Tenant) -> None:
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    task = enqueue("noop", tenant=tenant, run_at=when)
    task.refresh_from_db()
    assert task.status == Status.SCHEDULED
    assert task.run_at == when


def test_iso_run_at_with_offset_is_accepted(tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant, run_at="2999-01-02T03:04:05+02:00")
    task.refresh_from_db()
    assert task.status == Status.SCHEDULED
    assert task.run_at == datetime(2999, 1, 2, 1, 4, 5, tzinfo=UTC)


def test_run_at_in_the_past_is_pending(tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant, run_at=timezone.now() - timedelta(minutes=5))
    assert task.status == Status.PENDING


@pytest.mark.parametrize("run_at", [datetime(2999, 1, 1, 12, 0), "2999-01-01T12:00:00"])
def test_naive_run_at_is_rejected(tenant: Tenant, run_at: Any) -> None:
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=tenant, run_at=run_at)
    assert info.value.field == "run_at"
    assert "time zone" in info.value.message
    assert not Task.objects.exists()


@pytest.mark.parametrize("run_at", ["next tuesday", 12345])
def test_unreadable_run_at_is_rejected(tenant: Tenant, run_at: Any) -> None:
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=tenant, run_at=run_at)
    assert info.value.field == "run_at"


def test_delay_and_run_at_together_are_rejected(tenant: Tenant) -> None:
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=tenant, delay=10, run_at=timezone.now() + timedelta(hours=1))
    assert info.value.field == "run_at"
    assert "not both" in info.value.message
    assert not Task.objects.exists()


# --------------------------------------------------------------------------- per-type defaults


def test_type_defaults_apply(tenant: Tenant) -> None:
    stubborn = enqueue("stubborn", tenant=tenant)
    stubborn.refresh_from_db()
    assert (stubborn.timeout, stubborn.max_retries) == (1, 0)
    noop = enqueue("noop", tenant=tenant)
    noop.refresh_from_db()
    assert noop.timeout == 30
    assert noop.max_retries == conf().DEFAULT_MAX_RETRIES == 3
    assert noop.priority == conf().DEFAULT_PRIORITY == 3
    assert noop.queue == conf().DEFAULT_QUEUE == "default"
    flaky = enqueue("flaky", tenant=tenant)
    flaky.refresh_from_db()
    assert (flaky.timeout, flaky.max_retries) == (conf().DEFAULT_TIMEOUT, 5)


def test_explicit_options_override_type_defaults(tenant: Tenant) -> None:
    task = enqueue("stubborn", tenant=tenant, timeout=10, max_retries=2, priority=5, queue="urgent")
    task.refresh_from_db()
    assert (task.timeout, task.max_retries, task.priority, task.queue) == (10, 2, 5, "urgent")
    task = enqueue_or_get(tenant, {"type": "noop", "timeout_seconds": 7, "max_retries": 0}).task
    task.refresh_from_db()
    assert (task.timeout, task.max_retries) == (7, 0)


def test_jobs_settings_change_the_engine_defaults(tenant: Tenant, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "DEFAULT_PRIORITY": 2, "DEFAULT_QUEUE": "bulk", "DEFAULT_MAX_RETRIES": 7}
    task = enqueue("noop", tenant=tenant)
    assert (task.priority, task.queue, task.max_retries) == (2, "bulk", 7)


# --------------------------------------------------------------------------- enqueue_many


def test_invalid_items_fail_the_whole_batch_and_write_nothing(tenant: Tenant) -> None:
    specs: list[Any] = [
        {"type": "noop"},
        {"type": "no_such_type"},
        {"type": "noop", "priority": 9},
        "not an object",
        {"type": "noop", "payload": "[1]"},
        {"type": "noop", "run_at": datetime(2999, 1, 1)},
        {"type": "sleep", "payload": {"seconds": 1}},
    ]
    with pytest.raises(InvalidBatch) as info:
        enqueue_many(specs, tenant=tenant)
    errors = info.value.errors
    assert [(index, field) for index, field, _ in errors] == [
        (1, "type"),
        (2, "priority"),
        (3, "task"),
        (4, "payload"),
        (5, "run_at"),
    ]
    assert all(message for _, _, message in errors)
    assert "noop" in errors[0][2]  # the unknown-type message lists the known types
    assert isinstance(info.value, InvalidTask)
    assert info.value.field == "tasks[1].type"
    assert not Task.objects.exists()


def test_batch_above_max_batch_is_rejected(tenant: Tenant, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "MAX_BATCH": 5}
    with pytest.raises(InvalidTask) as info:
        enqueue_many([{"type": "noop"}] * 6, tenant=tenant)
    assert info.value.field == "tasks"
    assert "5" in info.value.message
    assert not Task.objects.exists()
    assert len(enqueue_many([{"type": "noop"}] * 5, tenant=tenant)) == 5


def test_empty_batch_writes_nothing(tenant: Tenant) -> None:
    assert enqueue_many([], tenant=tenant) == []
    assert not Task.objects.exists()


def _inserts(ctx: CaptureQueriesContext, table: str = "jobs_task") -> list[str]:
    """INSERT statements into ``table`` (the event outbox row is a separate, single INSERT)."""
    return [q["sql"] for q in ctx.captured_queries
            if q["sql"].lstrip().upper().startswith("INSERT") and table in q["sql"].split("(")[0]]


def test_enqueue_many_is_one_insert(tenant: Tenant) -> None:
    specs = [
        {"type": "noop" if i % 2 else "sleep", "priority": 1 + i % 5, "payload": {"i": i},
         **({"delay_seconds": 30} if i % 3 == 0 else {})}
        for i in range(50)
    ]
    with CaptureQueriesContext(connection) as ctx:
        results = enqueue_many(specs, tenant=tenant)
    assert len(_inserts(ctx)) == 1, _inserts(ctx)
    assert len(_inserts(ctx, "jobs_event")) == 1, "one outbox row for the whole batch"
    assert not [q for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(("UPDATE", "DELETE"))]
    assert len(results) == 50
    assert all(r.created for r in results)
    pks = [r.task.pk for r in results]
    assert None not in pks
    assert len(set(pks)) == 50
    stored = {t.pk: t for t in Task.objects.filter(tenant=tenant)}
    assert set(stored) == set(pks)
    # Results come back in the order of the specs.
    for i, r in enumerate(results):
        assert stored[r.task.pk].payload == {"i": i}
        assert stored[r.task.pk].priority == 1 + i % 5
        assert stored[r.task.pk].status == (Status.SCHEDULED if i % 3 == 0 else Status.PENDING)


def test_a_full_batch_is_still_one_insert(tenant: Tenant) -> None:
    size = conf().MAX_BATCH
    with CaptureQueriesContext(connection) as ctx:
        results = enqueue_many([{"type": "noop", "payload": {"n": 1}}] * size, tenant=tenant)
    assert len(_inserts(ctx)) == 1
    assert Task.objects.count() == size
    assert len({r.task.pk for r in results}) == size


# --------------------------------------------------------------------------- idempotency


def test_same_key_twice_returns_the_original(tenant: Tenant) -> None:
    first = enqueue_or_get(tenant, {"type": "noop", "payload": {"v": 1}, "idempotency_key": "order-1"})
    second = enqueue_or_get(tenant, {"type": "noop", "payload": {"v": 2}, "idempotency_key": "order-1"})
    assert first.created is True
    assert second.created is False
    assert second.task.pk == first.task.pk
    assert second.task.payload == {"v": 1}
    assert Task.objects.count() == 1
    assert enqueue("noop", tenant=tenant, idempotency_key="order-1").pk == first.task.pk
    assert Task.objects.count() == 1


def test_same_key_for_two_tenants_makes_two_tasks(tenant: Tenant, other_tenant: Tenant) -> None:
    mine = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "shared"})
    theirs = enqueue_or_get(other_tenant, {"type": "noop", "idempotency_key": "shared"})
    assert mine.created and theirs.created
    assert mine.task.pk != theirs.task.pk
    assert theirs.task.tenant_id == other_tenant.pk
    assert Task.objects.count() == 2


def test_tasks_without_a_key_are_never_deduplicated(tenant: Tenant) -> None:
    enqueue("noop", tenant=tenant)
    enqueue("noop", tenant=tenant)
    assert Task.objects.filter(idempotency_key__isnull=True).count() == 2


@pytest.mark.parametrize("key", ["", "k" * 256, 42])
def test_bad_idempotency_key_is_rejected(tenant: Tenant, key: Any) -> None:
    with pytest.raises(InvalidTask) as info:
        enqueue("noop", tenant=tenant, idempotency_key=key)
    assert info.value.field == "idempotency_key"


def test_enqueue_many_returns_the_existing_task_for_a_used_key(tenant: Tenant) -> None:
    existing = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "k1"}).task
    results = enqueue_many(
        [
            {"type": "sleep", "idempotency_key": "k1"},
            {"type": "noop"},
            {"type": "noop", "idempotency_key": "k2"},
        ],
        tenant=tenant,
    )
    assert [r.created for r in results] == [False, True, True]
    assert results[0].task.pk == existing.pk
    assert results[0].task.type == "noop"  # the original, not the new spec
    assert results[1].task.pk and results[2].task.pk
    assert len({r.task.pk for r in results}) == 3
    assert Task.objects.count() == 3
    assert Task.objects.get(idempotency_key="k2").pk == results[2].task.pk


def test_enqueue_many_key_of_another_tenant_does_not_match(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = enqueue_or_get(other_tenant, {"type": "noop", "idempotency_key": "k1"}).task
    (result,) = enqueue_many([{"type": "noop", "idempotency_key": "k1"}], tenant=tenant)
    assert result.created
    assert result.task.pk != theirs.pk
    assert result.task.tenant_id == tenant.pk


def test_keys_differing_only_in_case_are_different_keys(tenant: Tenant) -> None:
    first = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "Order-A"})
    second = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "order-a"})
    assert first.created and second.created
    assert first.task.pk != second.task.pk
    assert Task.objects.count() == 2


def test_enqueue_many_key_differing_only_in_case_from_a_stored_one(tenant: Tenant) -> None:
    stored = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "Order-A"}).task
    (result,) = enqueue_many([{"type": "noop", "idempotency_key": "order-a"}], tenant=tenant)
    assert result.created
    assert result.task.pk != stored.pk
    assert Task.objects.count() == 2


def test_concurrent_enqueue_with_the_same_key_answers_with_the_winner(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "race"}).task
    # The loser's look-up ran before the winner committed: it saw nothing.
    real_first = TaskQuerySet.first
    calls = []

    def first_misses_once(self: TaskQuerySet) -> Task | None:
        calls.append(1)
        return None if len(calls) == 1 else real_first(self)

    monkeypatch.setattr(TaskQuerySet, "first", first_misses_once)
    loser = enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "race"})
    monkeypatch.undo()
    assert calls, "the existing-key look-up was not made through QuerySet.first()"
    assert loser.created is False
    assert loser.task.pk == winner.pk
    assert Task.objects.count() == 1
    enqueue("noop", tenant=tenant)  # the connection is still usable after the conflict
    assert Task.objects.count() == 2


def test_same_key_twice_in_one_batch_is_an_error(tenant: Tenant) -> None:
    with pytest.raises(InvalidBatch) as info:
        enqueue_many(
            [
                {"type": "noop", "idempotency_key": "dup"},
                {"type": "noop", "idempotency_key": "other"},
                {"type": "noop", "idempotency_key": "dup"},
            ],
            tenant=tenant,
        )
    assert [(i, f) for i, f, _ in info.value.errors] == [(2, "idempotency_key")]
    assert not Task.objects.exists()


# --------------------------------------------------------------------------- transactions and wake-ups


@pytest.mark.django_db(transaction=True)
def test_rolled_back_enqueue_writes_nothing_and_announces_nothing(
    tenant: Tenant, announcements: list[bytes]
) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue("noop", tenant=tenant)
        enqueue_or_get(tenant, {"type": "noop", "idempotency_key": "k"})
        enqueue_many([{"type": "noop"}] * 3, tenant=tenant)
        assert Task.objects.count() == 5  # visible inside the transaction…
        raise RuntimeError("the caller's own work failed")
    assert not Task.objects.exists()  # …and gone with it
    assert announcements == []


@pytest.mark.django_db(transaction=True)
def test_commit_announces_after_the_commit_not_before(tenant: Tenant, announcements: list[bytes]) -> None:
    with transaction.atomic():
        task = enqueue("noop", tenant=tenant)
        assert announcements == []
        results = enqueue_many([{"type": "noop"}, {"type": "sleep"}], tenant=tenant)
        assert announcements == []
    assert announcements
    assert set(announcements) == {wakeup.WORK}
    assert Task.objects.filter(pk__in=[task.pk, *(r.task.pk for r in results)]).count() == 3


@pytest.mark.django_db(transaction=True)
def test_autocommit_enqueue_announces_at_once(tenant: Tenant, announcements: list[bytes]) -> None:
    enqueue("noop", tenant=tenant)
    assert announcements == [wakeup.WORK]


@pytest.mark.django_db(transaction=True)
def test_scheduled_work_does_not_wake_workers(tenant: Tenant, announcements: list[bytes]) -> None:
    enqueue("noop", tenant=tenant, delay=60)
    enqueue_many([{"type": "noop", "delay_seconds": 60}] * 2, tenant=tenant)
    assert Task.objects.filter(status=Status.SCHEDULED).count() == 3
    assert announcements == []


@pytest.mark.django_db(transaction=True)
def test_repeated_key_does_not_announce_again(tenant: Tenant, announcements: list[bytes]) -> None:
    enqueue("noop", tenant=tenant, idempotency_key="once")
    assert announcements == [wakeup.WORK]
    enqueue("noop", tenant=tenant, idempotency_key="once")
    enqueue_many([{"type": "noop", "idempotency_key": "once"}], tenant=tenant)
    assert announcements == [wakeup.WORK]
    assert Task.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_failed_batch_inside_a_transaction_leaves_the_callers_writes_alone(
    tenant: Tenant, announcements: list[bytes]
) -> None:
    with transaction.atomic():
        kept = enqueue("noop", tenant=tenant)
        with pytest.raises(InvalidBatch):
            enqueue_many([{"type": "noop"}, {"type": "nope"}], tenant=tenant)
    assert list(Task.objects.values_list("pk", flat=True)) == [kept.pk]
    assert announcements == [wakeup.WORK]


# --------------------------------------------------------------------------- jobs.services.control


@pytest.mark.parametrize("delay", [None, 3600])
def test_cancel_waiting_task(tenant: Tenant, delay: int | None) -> None:
    task = enqueue("noop", tenant=tenant, delay=delay)
    assert task.status == (Status.SCHEDULED if delay else Status.PENDING)
    before = timezone.now()
    returned = control.cancel(task.pk)
    assert returned.status == Status.CANCELLED
    task.refresh_from_db()
    assert task.status == Status.CANCELLED
    assert task.finished_at is not None
    assert before <= task.finished_at <= timezone.now()


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.FAILED, Status.CANCELLED])
def test_cancel_finished_task_is_an_invalid_transition(tenant: Tenant, status: str) -> None:
    finished = timezone.now() - timedelta(minutes=1)
    task = set_status(enqueue("noop", tenant=tenant), status, finished_at=finished)
    with pytest.raises(InvalidTransition) as info:
        control.cancel(task.pk)
    assert info.value.status == status
    assert info.value.task_id == task.pk
    assert status in str(info.value)
    assert "cancel" in str(info.value)
    task.refresh_from_db()
    assert task.status == status
    assert task.finished_at == finished


def test_cancel_running_task_requests_cancellation(tenant: Tenant) -> None:
    task = set_status(enqueue("noop", tenant=tenant), Status.RUNNING, worker="w1", started_at=timezone.now())
    returned = control.cancel(task.pk)
    assert returned.status == Status.RUNNING
    assert returned.cancel_requested is True
    task.refresh_from_db()
    assert (task.status, task.cancel_requested, task.finished_at) == (Status.RUNNING, True, None)


@pytest.mark.django_db(transaction=True)
def test_cancel_running_task_announces_a_cancellation(tenant: Tenant, announcements: list[bytes]) -> None:
    task = set_status(enqueue("noop", tenant=tenant), Status.RUNNING, worker="w1")
    announcements.clear()
    control.cancel(task.pk)
    assert announcements == [wakeup.CANCEL]


def test_cancel_unknown_task(db: None) -> None:
    with pytest.raises(Task.DoesNotExist):
        control.cancel(987654)


def test_cancel_is_tenant_scoped(tenant: Tenant, other_tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant)
    with pytest.raises(Task.DoesNotExist):
        control.cancel(task.pk, tenant=other_tenant)
    task.refresh_from_db()
    assert task.status == Status.PENDING
    assert control.cancel(task.pk, tenant=tenant).status == Status.CANCELLED


def test_requeue_failed_task_keeps_the_error_history(tenant: Tenant) -> None:
    history = [{"attempt": 1, "error": "boom"}, {"attempt": 2, "error": "boom again"}]
    task = set_status(
        enqueue("noop", tenant=tenant), Status.FAILED, attempts=2, errors=history, worker="w1",
        started_at=timezone.now() - timedelta(seconds=5), finished_at=timezone.now(), result={"x": 1},
    )
    before = timezone.now()
    returned = control.requeue(task.pk)
    assert returned.status == Status.PENDING
    task.refresh_from_db()
    assert task.status == Status.PENDING
    assert task.attempts == 0
    assert task.errors == history
    assert task.finished_at is None
    assert task.started_at is None
    assert task.worker is None
    assert task.result is None
    assert before <= task.run_at <= timezone.now()


def test_requeue_cancelled_task(tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant, delay=3600)
    control.cancel(task.pk)
    assert control.requeue(task.pk).status == Status.PENDING


@pytest.mark.parametrize("status", [Status.PENDING, Status.SCHEDULED, Status.RUNNING, Status.COMPLETED])
def test_requeue_of_a_live_or_completed_task_is_an_invalid_transition(tenant: Tenant, status: str) -> None:
    task = set_status(enqueue("noop", tenant=tenant), status, attempts=1)
    with pytest.raises(InvalidTransition) as info:
        control.requeue(task.pk)
    assert info.value.status == status
    assert "requeue" in str(info.value)
    task.refresh_from_db()
    assert (task.status, task.attempts) == (status, 1)


def test_requeue_unknown_task(db: None) -> None:
    with pytest.raises(Task.DoesNotExist):
        control.requeue(987654)


def test_requeue_is_tenant_scoped(tenant: Tenant, other_tenant: Tenant) -> None:
    task = set_status(enqueue("noop", tenant=tenant), Status.FAILED, attempts=4)
    with pytest.raises(Task.DoesNotExist):
        control.requeue(task.pk, tenant=other_tenant)
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Status.FAILED, 4)
    assert control.requeue(task.pk, tenant=tenant).status == Status.PENDING


def _mixed_states(tenant: Tenant, other_tenant: Tenant) -> dict[str, Task]:
    tasks = {
        "failed_noop": enqueue("noop", tenant=tenant),
        "failed_sleep": enqueue("sleep", tenant=tenant),
        "failed_other": enqueue("noop", tenant=other_tenant),
        "completed": enqueue("noop", tenant=tenant),
        "cancelled": enqueue("noop", tenant=tenant),
        "pending": enqueue("noop", tenant=tenant),
    }
    for name in ("failed_noop", "failed_sleep", "failed_other"):
        set_status(tasks[name], Status.FAILED, attempts=4, finished_at=timezone.now())
    set_status(tasks["completed"], Status.COMPLETED, attempts=1, finished_at=timezone.now())
    set_status(tasks["cancelled"], Status.CANCELLED, finished_at=timezone.now())
    return tasks


def _statuses(tasks: dict[str, Task]) -> dict[str, str]:
    return {name: Task.objects.get(pk=t.pk).status for name, t in tasks.items()}


def test_requeue_failed_requeues_only_failed_tasks(tenant: Tenant, other_tenant: Tenant) -> None:
    tasks = _mixed_states(tenant, other_tenant)
    assert control.requeue_failed(batch=1) == 3
    assert _statuses(tasks) == {
        "failed_noop": Status.PENDING,
        "failed_sleep": Status.PENDING,
        "failed_other": Status.PENDING,
        "completed": Status.COMPLETED,
        "cancelled": Status.CANCELLED,
        "pending": Status.PENDING,
    }
    failed = [tasks[name].pk for name in ("failed_noop", "failed_sleep", "failed_other")]
    assert list(Task.objects.filter(pk__in=failed).values_list("attempts", flat=True)) == [0, 0, 0]
    assert Task.objects.get(pk=tasks["completed"].pk).attempts == 1
    assert control.requeue_failed() == 0


def test_requeue_failed_filtered_by_type(tenant: Tenant, other_tenant: Tenant) -> None:
    tasks = _mixed_states(tenant, other_tenant)
    assert control.requeue_failed(type="sleep") == 1
    statuses = _statuses(tasks)
    assert statuses["failed_sleep"] == Status.PENDING
    assert statuses["failed_noop"] == statuses["failed_other"] == Status.FAILED


def test_requeue_failed_filtered_by_tenant(tenant: Tenant, other_tenant: Tenant) -> None:
    tasks = _mixed_states(tenant, other_tenant)
    assert control.requeue_failed(tenant=other_tenant) == 1
    statuses = _statuses(tasks)
    assert statuses["failed_other"] == Status.PENDING
    assert statuses["failed_noop"] == statuses["failed_sleep"] == Status.FAILED
