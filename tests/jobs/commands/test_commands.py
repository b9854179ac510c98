"""The task commands (enqueue, requeue, cancel, prune): success paths in-process, bad input through the real CLI."""

from datetime import timedelta
from typing import Any

import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services.enqueue import enqueue
from tenants.models import Tenant
from tests.support.builders import set_status
from tests.support.commands import assert_clean_failure, manage, run


@pytest.mark.django_db
def test_enqueue_many_scheduled_tasks(tenant: Tenant) -> None:
    before = timezone.now()
    out = run("enqueue", "noop", "--tenant", "acme", "--count", "25", "--priority", "5", "--queue", "q1",
              "--delay", "60")
    after = timezone.now()
    tasks = list(Task.objects.all())
    assert len(tasks) == 25
    assert {(t.tenant_id, t.type, t.status, t.queue, t.priority) for t in tasks} == {
        (tenant.pk, "noop", Status.SCHEDULED, "q1", 5)
    }
    for t in tasks:
        assert before + timedelta(seconds=60) <= t.run_at <= after + timedelta(seconds=60)
    first, last = min(t.pk for t in tasks), max(t.pk for t in tasks)
    assert "enqueued 25 noop task(s) for acme" in out
    assert f"#{first}" in out and f"#{last}" in out


@pytest.mark.django_db
def test_enqueue_one_task_with_payload_and_defaults(tenant: Tenant) -> None:
    out = run("enqueue", "sleep", "--tenant", "acme", "--payload", '{"seconds": 2}', "--timeout", "9",
              "--max-retries", "1")
    task = Task.objects.get()
    assert (task.type, task.payload, task.status) == ("sleep", {"seconds": 2}, Status.PENDING)
    assert (task.timeout, task.max_retries, task.priority, task.queue) == (9, 1, 3, "default")
    assert f"#{task.pk}" in out


@pytest.mark.django_db
def test_enqueue_more_than_one_batch(tenant: Tenant, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "MAX_BATCH": 10}
    out = run("enqueue", "noop", "--tenant", "acme", "--count", "25")
    assert Task.objects.filter(tenant=tenant).count() == 25
    assert "enqueued 25" in out


@pytest.mark.django_db
def test_enqueue_invalid_option_in_process_raises_command_error(tenant: Tenant) -> None:
    with pytest.raises(CommandError, match="max_retries"):
        run("enqueue", "noop", "--tenant", "acme", "--max-retries", "-1")
    assert not Task.objects.exists()


@pytest.mark.django_db
def test_requeue_by_id(tenant: Tenant) -> None:
    one = set_status(enqueue("noop", tenant=tenant), Status.FAILED, attempts=4, errors=[{"e": 1}])
    two = set_status(enqueue("noop", tenant=tenant), Status.CANCELLED)
    untouched = set_status(enqueue("noop", tenant=tenant), Status.FAILED, attempts=4)
    out = run("requeue", str(one.pk), str(two.pk))
    for task in (one, two, untouched):
        task.refresh_from_db()
    assert (one.status, one.attempts, one.errors) == (Status.PENDING, 0, [{"e": 1}])
    assert two.status == Status.PENDING
    assert untouched.status == Status.FAILED
    assert f"requeued #{one.pk}" in out and f"requeued #{two.pk}" in out


@pytest.mark.django_db
def test_requeue_all_failed(tenant: Tenant, other_tenant: Tenant) -> None:
    failed = [set_status(enqueue(kind, tenant=t), Status.FAILED, attempts=4)
              for kind, t in (("noop", tenant), ("sleep", tenant), ("noop", other_tenant))]
    cancelled = set_status(enqueue("noop", tenant=tenant), Status.CANCELLED)
    completed = set_status(enqueue("noop", tenant=tenant), Status.COMPLETED)
    out = run("requeue", "--all-failed")
    assert "requeued 3 failed task(s)" in out
    assert {Task.objects.get(pk=t.pk).status for t in failed} == {Status.PENDING}
    assert Task.objects.get(pk=cancelled.pk).status == Status.CANCELLED
    assert Task.objects.get(pk=completed.pk).status == Status.COMPLETED


@pytest.mark.django_db
def test_requeue_all_failed_of_one_tenant_and_type(tenant: Tenant, other_tenant: Tenant) -> None:
    mine = set_status(enqueue("noop", tenant=tenant), Status.FAILED)
    my_sleep = set_status(enqueue("sleep", tenant=tenant), Status.FAILED)
    theirs = set_status(enqueue("noop", tenant=other_tenant), Status.FAILED)
    out = run("requeue", "--all-failed", "--tenant", "acme", "--type", "noop")
    assert "requeued 1 failed task(s)" in out
    assert Task.objects.get(pk=mine.pk).status == Status.PENDING
    assert Task.objects.get(pk=my_sleep.pk).status == Status.FAILED
    assert Task.objects.get(pk=theirs.pk).status == Status.FAILED


@pytest.mark.django_db
def test_requeue_needs_ids_or_all_failed_but_not_both(tenant: Tenant) -> None:
    failed = set_status(enqueue("noop", tenant=tenant), Status.FAILED)
    with pytest.raises(CommandError, match="--all-failed"):
        run("requeue")
    with pytest.raises(CommandError, match="--all-failed"):
        run("requeue", str(failed.pk), "--all-failed")
    assert Task.objects.get(pk=failed.pk).status == Status.FAILED


@pytest.mark.django_db
def test_requeue_with_another_tenant_finds_no_such_task(tenant: Tenant, other_tenant: Tenant) -> None:
    failed = set_status(enqueue("noop", tenant=tenant), Status.FAILED)
    with pytest.raises(CommandError, match="no such task"):
        run("requeue", str(failed.pk), "--tenant", "globex")
    assert Task.objects.get(pk=failed.pk).status == Status.FAILED


@pytest.mark.django_db
def test_cancel_by_id(tenant: Tenant) -> None:
    pending = enqueue("noop", tenant=tenant)
    scheduled = enqueue("noop", tenant=tenant, delay=600)
    running = set_status(enqueue("noop", tenant=tenant), Status.RUNNING, worker="w1")
    other = enqueue("noop", tenant=tenant)
    out = run("cancel", str(pending.pk), str(scheduled.pk), str(running.pk))
    for task in (pending, scheduled, running, other):
        task.refresh_from_db()
    assert pending.status == scheduled.status == Status.CANCELLED
    assert pending.finished_at is not None and scheduled.finished_at is not None
    assert (running.status, running.cancel_requested) == (Status.RUNNING, True)
    assert other.status == Status.PENDING
    assert f"#{pending.pk}: cancelled" in out
    assert f"#{running.pk}: cancellation requested" in out


@pytest.mark.django_db
def test_cancel_reports_finished_and_missing_tasks_but_cancels_the_rest(tenant: Tenant) -> None:
    done = set_status(enqueue("noop", tenant=tenant), Status.COMPLETED)
    pending = enqueue("noop", tenant=tenant)
    with pytest.raises(CommandError) as info:
        run("cancel", str(done.pk), "987654", str(pending.pk))
    assert f"#{done.pk}: already completed" in str(info.value)
    assert "#987654: no such task" in str(info.value)
    assert Task.objects.get(pk=pending.pk).status == Status.CANCELLED
    assert Task.objects.get(pk=done.pk).status == Status.COMPLETED


@pytest.mark.django_db
def test_prune_deletes_only_old_finished_tasks(tenant: Tenant) -> None:
    now = timezone.now()
    old = now - timedelta(hours=2)
    doomed = [
        set_status(enqueue("noop", tenant=tenant), status, finished_at=old)
        for status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    ]
    kept = {
        "recent": set_status(enqueue("noop", tenant=tenant), Status.COMPLETED, finished_at=now - timedelta(minutes=30)),
        "pending": set_status(enqueue("noop", tenant=tenant), Status.PENDING, created_at=old, run_at=old),
        "scheduled": enqueue("noop", tenant=tenant, delay=7200),
        "running": set_status(enqueue("noop", tenant=tenant), Status.RUNNING, started_at=old),
        # A requeued task keeps no finished_at, but even a stale one must not get it pruned.
        "stale_pending": set_status(enqueue("noop", tenant=tenant), Status.PENDING, finished_at=old),
    }
    out = run("prune", "--older-than", "3600", "--batch", "2")
    assert "pruned 3 finished task(s) older than 3600s" in out
    assert not Task.objects.filter(pk__in=[t.pk for t in doomed]).exists()
    assert set(Task.objects.values_list("pk", flat=True)) == {t.pk for t in kept.values()}


@pytest.mark.django_db
def test_prune_defaults_to_the_retention(tenant: Tenant, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "RETENTION_SECONDS": 600}
    now = timezone.now()
    old = set_status(enqueue("noop", tenant=tenant), Status.COMPLETED, finished_at=now - timedelta(minutes=11))
    recent = set_status(enqueue("noop", tenant=tenant), Status.COMPLETED, finished_at=now - timedelta(minutes=9))
    out = run("prune")
    assert "pruned 1" in out
    assert list(Task.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not Task.objects.filter(pk=old.pk).exists()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        pytest.param(["no_such_type", "--tenant", "acme"],
                     ["unknown task type 'no_such_type'", "noop", "sleep"], id="unknown-type"),
        pytest.param(["noop", "--tenant", "acme", "--payload", "{bad"], ["--payload", "not valid JSON"],
                     id="payload-not-json"),
        pytest.param(["noop", "--tenant", "acme", "--payload", "[1]"], ["--payload", "must be a JSON object"],
                     id="payload-not-object"),
        pytest.param(["noop", "--tenant", "acme", "--priority", "9"], ["--priority", "between 1 and 5"],
                     id="priority-9"),
        pytest.param(["noop", "--tenant", "nobody"], ["unknown tenant 'nobody'"], id="unknown-tenant"),
        pytest.param(["noop", "--tenant", "acme", "--count", "0"], ["--count", "at least 1"], id="count-0"),
        pytest.param(["noop", "--tenant", "acme", "--delay", "-5"], ["--delay"], id="negative-delay"),
    ],
)
def test_enqueue_bad_input_fails_cleanly_and_writes_nothing(
    worker_env: dict[str, str], tenant: Tenant, args: list[str], fragments: list[str]
) -> None:
    proc = manage(worker_env, "enqueue", *args)
    assert_clean_failure(proc, *fragments)
    assert not Task.objects.exists()


def test_enqueue_through_the_cli_succeeds(worker_env: dict[str, str], tenant: Tenant) -> None:
    # The harness itself works: the same invocation with good input writes the tasks.
    proc = manage(worker_env, "enqueue", "noop", "--tenant", "acme", "--count", "3", "--priority", "4")
    assert proc.returncode == 0, proc.stderr
    assert "enqueued 3 noop task(s)" in proc.stdout
    assert list(Task.objects.values_list("priority", flat=True)) == [4, 4, 4]


def test_requeue_pending_task_fails_cleanly(worker_env: dict[str, str], tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant)
    proc = manage(worker_env, "requeue", str(task.pk))
    assert_clean_failure(proc, f"#{task.pk}", "is pending")
    task.refresh_from_db()
    assert task.status == Status.PENDING


def test_cancel_completed_task_fails_cleanly(worker_env: dict[str, str], tenant: Tenant) -> None:
    task = set_status(enqueue("noop", tenant=tenant), Status.COMPLETED)
    proc = manage(worker_env, "cancel", str(task.pk))
    assert_clean_failure(proc, f"#{task.pk}", "already completed")
    assert Task.objects.get(pk=task.pk).status == Status.COMPLETED


def test_runworkers_waits_for_an_unreachable_database_instead_of_exiting(tmp_path) -> None:
    """A worker (re)started while the database restarts must wait for it (its checks need a connection)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.support import ROOT

    log = tmp_path / "runworkers.log"
    env = {**os.environ, "DATABASE_URL": "mysql://root@127.0.0.1:1/none",
           "DJANGO_SETTINGS_MODULE": "engine_site.settings"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "runworkers", "--processes", "1"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "database is unreachable" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        assert "trying again" in log.read_text()
        time.sleep(1.5)
        assert proc.poll() is None, "still waiting, not exited: " + log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.mark.django_db
def test_enqueue_with_a_concurrency_key_and_a_resource(tenant: Tenant) -> None:
    out = run("enqueue", "noop", "--tenant", "acme", "--count", "3", "--concurrency-key", "acct-1",
              "--concurrency-limit", "2", "--resource", "partner-api")
    assert "enqueued 3 noop task(s)" in out
    assert set(Task.objects.values_list("concurrency_key", "concurrency_limit", "resource")) == {
        ("acct-1", 2, "partner-api")}
    with pytest.raises(CommandError, match="concurrency_limit: needs a concurrency_key"):
        run("enqueue", "noop", "--tenant", "acme", "--concurrency-limit", "2")
    assert Task.objects.count() == 3
