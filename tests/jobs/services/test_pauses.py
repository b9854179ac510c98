"""jobs.services.pauses and .queues: what every caller gets (counts, wake-ups, the second sweep, depths)."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.notify import wakeup
from jobs.services import pauses, queues
from tenants.models import Tenant
from tests.support.builders import add_task

pytestmark = pytest.mark.django_db


def parked(tenant: Tenant, **fields: Any) -> Task:
    return add_task(tenant, fields.pop("type", "noop"), status=Status.BLOCKED, blocked_on="pause", **fields)


def test_pause_says_whether_it_is_new_and_lists_with_parked_counts(tenant: Tenant) -> None:
    info, created = pauses.pause("queue", "emails", reason="SMTP down", by="ops")
    assert created and (info.kind, info.value, info.blocked) == ("queue", "emails", 0)
    for _ in range(3):
        parked(tenant, queue="emails")
    parked(tenant, queue="other")
    again, created = pauses.pause("queue", "emails", reason="still down", by="ops2")
    assert not created and again.blocked == 3 and again.reason == "still down"
    pauses.pause("tenant", "acme")
    listed = pauses.list_pauses()
    assert [(p.kind, p.value, p.blocked, p.blocked_more) for p in listed] == [
        ("queue", "emails", 3, False), ("tenant", "acme", 0, False)]
    assert pauses.find("queue", "emails") is not None and pauses.find("queue", "other") is None


def test_parked_counts_are_bounded(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pauses, "BLOCKED_COUNT_CAP", 2)
    pauses.pause("type", "noop")
    for _ in range(3):
        parked(tenant)
    (info,) = pauses.list_pauses()
    assert (info.blocked, info.blocked_more) == (2, True)


def test_resume_wakes_the_workers_once_it_commits(tenant: Tenant, announcements: list[bytes],
                                                  django_capture_on_commit_callbacks: Any,
                                                  settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "PAUSE_CACHE_SECONDS": 0.0}
    pauses.pause("queue", "emails")
    parked(tenant, queue="emails")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert pauses.resume("queue", "emails") == 1
    assert announcements == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert announcements == [wakeup.WORK]


def test_resume_sweeps_again_after_the_cache_interval(tenant: Tenant, announcements: list[bytes],
                                                      django_capture_on_commit_callbacks: Any,
                                                      settings: Any) -> None:
    """A claim that still had the lifted pause cached parks a task after the first sweep: the second frees it."""
    settings.JOBS = {**settings.JOBS, "PAUSE_CACHE_SECONDS": 0.05}
    pauses.pause("queue", "emails")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert pauses.resume("queue", "emails") == 0
    late = parked(tenant, queue="emails")
    for callback in callbacks:
        callback()
    assert Task.objects.get(pk=late.pk).status == Status.PENDING
    assert announcements == [wakeup.WORK, wakeup.WORK]


def test_the_second_sweep_leaves_a_new_pause_alone(tenant: Tenant, django_capture_on_commit_callbacks: Any,
                                                   settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "PAUSE_CACHE_SECONDS": 0.0}
    pauses.pause("queue", "emails")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        pauses.resume("queue", "emails")
    pauses.pause("queue", "emails", reason="again")
    again = parked(tenant, queue="emails")
    for callback in callbacks:
        callback()
    assert Task.objects.get(pk=again.pk).status == Status.BLOCKED


def test_resume_of_nothing_raises(db: None) -> None:
    with pytest.raises(pauses.NotPaused):
        pauses.resume("type", "noop")


# --------------------------------------------------------------------------- depths


def test_depths_per_queue_and_type_with_oldest_age_and_pauses(tenant: Tenant) -> None:
    now = timezone.now()
    add_task(tenant, "noop", queue="emails", run_at=now - timedelta(minutes=10))
    add_task(tenant, "noop", queue="emails", run_at=now - timedelta(minutes=1))
    add_task(tenant, "sleep", queue="emails", status=Status.SCHEDULED, run_at=now + timedelta(hours=1))
    parked(tenant, type="sleep", queue="reports", run_at=now - timedelta(minutes=30))
    add_task(tenant, "noop", queue="emails", status=Status.RUNNING)  # not waiting
    add_task(tenant, "noop", queue="emails", status=Status.COMPLETED)
    pauses.pause("queue", "reports", reason="r", by="b")
    result = queues.depths()
    by_queue = {d.name: d for d in result.queues}
    emails, reports = by_queue["emails"], by_queue["reports"]
    assert emails.counts == {"pending": 2, "scheduled": 1, "blocked": 0} and emails.depth == 3
    # The oldest waiting: 10 minutes (the future scheduled task is not waiting yet).
    age = emails.age(result.now)
    assert age is not None and timedelta(minutes=9) < age < timedelta(minutes=11)
    assert reports.depth == 1 and reports.pause is not None and reports.pause.reason == "r"
    assert "default" in by_queue and by_queue["default"].depth == 0  # always listed, may be paused
    by_type = {d.name: d for d in result.types}
    assert by_type["noop"].counts["pending"] == 2 and by_type["sleep"].depth == 2
    assert "fail" in by_type  # registered types are listed, to be paused before their first task
    assert result.totals == {"pending": 2, "scheduled": 1, "blocked": 1} and result.exact


def test_depths_past_the_sample_are_lower_bounds(tenant: Tenant) -> None:
    now = timezone.now()
    for minutes in (5, 4, 3):
        add_task(tenant, "noop", queue="old", run_at=now - timedelta(minutes=minutes))
    add_task(tenant, "noop", queue="new", run_at=now)
    result = queues.depths(sample=2)
    assert result.truncated == {"pending"} and result.totals["pending"] == 4
    by_queue = {d.name: d for d in result.queues}
    assert by_queue["old"].depth == 2 and "new" not in by_queue  # only the oldest two were read
    age = by_queue["old"].age(result.now)
    assert age is not None and age > timedelta(minutes=4, seconds=50)  # the oldest is exact


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)  # ANALYZE TABLE commits implicitly: the test's rows must be flushed
def test_the_sample_reads_the_due_index_in_order(tenant: Tenant) -> None:
    import json

    from django.db import connection

    from jobs.services.enqueue import enqueue_many

    for _ in range(2):
        enqueue_many([{"type": "noop", "queue": f"q{i % 7}"} for i in range(1000)], tenant=tenant)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE jobs_task")
        cursor.fetchall()
    qs = queues.sample_rows(Status.PENDING, 500)
    assert len(list(qs)) == 500
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN FORMAT=JSON " + sql, params)
        plan = json.dumps(json.loads(cursor.fetchone()[0]))
    assert "task_due_idx" in plan and "filesort" not in plan, plan
