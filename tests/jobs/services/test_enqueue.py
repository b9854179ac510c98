"""One enqueue (jobs.services.enqueue): validation of every field, timing, and the defaults."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs import clock
from jobs.conf import conf
from jobs.exceptions import InvalidTask, UnknownTaskType
from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services.enqueue import build_task, enqueue, enqueue_many, enqueue_or_get
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


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


# Enqueue times are on the database's clock: compare them with that clock (measured first).


def test_no_delay_is_pending_now(tenant: Tenant) -> None:
    clock.sync()
    before = clock.now()
    task = enqueue("noop", tenant=tenant)
    task.refresh_from_db()
    assert task.status == Status.PENDING
    assert before <= task.run_at <= clock.now()


def test_delay_is_scheduled_in_the_future(tenant: Tenant) -> None:
    clock.sync()
    before = clock.now()
    task = enqueue("noop", tenant=tenant, delay=60)
    after = clock.now()
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
    at = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    task = enqueue("noop", tenant=tenant, run_at=at.astimezone(timezone.get_fixed_timezone(120)).isoformat())
    task.refresh_from_db()
    assert task.status == Status.SCHEDULED
    assert task.run_at == at.astimezone(UTC)


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
