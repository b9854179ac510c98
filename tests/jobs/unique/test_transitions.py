"""Every transition out of a key's counted state groups lets the key go in its own UPDATE; the
others keep it. Run through the real store transitions (claim, the fenced end, rescue, cancel,
release, requeue), then checked by the next enqueue of the key."""

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Q
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services import control, maintenance
from jobs.services.enqueue import Enqueued, enqueue_or_get
from jobs.store import finish, transitions
from tenants.models import Tenant
from tests.support.builders import claim

pytestmark = pytest.mark.django_db(transaction=True)


def submit(tenant: Tenant, key: str = "k", **spec: Any) -> Enqueued:
    return enqueue_or_get(tenant, {"type": "noop", "unique_key": key, **spec})


def holds(task: Task) -> bool:
    task.refresh_from_db()
    return task.unique_active == task.unique_key


def assert_free(tenant: Tenant, holder: Task, key: str = "k") -> Task:
    """``holder`` let its key go: the next submission of it is a new task (returned)."""
    assert not holds(holder)
    again = submit(tenant, key)
    assert again.created and not again.duplicate and again.task.pk != holder.pk
    return again.task


def assert_held(tenant: Tenant, holder: Task, key: str = "k") -> None:
    assert holds(holder)
    again = submit(tenant, key)
    assert (again.created, again.duplicate, again.task.pk) == (False, True, holder.pk)


def test_a_key_is_held_from_the_insert_and_let_go_by_the_completion(tenant: Tenant) -> None:
    first = submit(tenant)
    assert first.created and not first.duplicate
    assert (first.task.unique_key, first.task.unique_active, first.task.unique_until) == ("k", "k", None)
    assert_held(tenant, first.task)
    running = claim(first.task)
    assert_held(tenant, first.task)  # running counts by default
    assert finish.write([finish.succeeded(running, "done")], fence=Q(worker="w1")) == 1
    assert Task.objects.get(pk=first.task.pk).status == Status.COMPLETED
    assert_free(tenant, first.task)


def test_a_claim_lets_go_a_key_that_counts_only_while_waiting(tenant: Tenant) -> None:
    task = submit(tenant, unique_states=["waiting"]).task
    assert_held(tenant, task)
    claim(task)
    assert Task.objects.get(pk=task.pk).status == Status.RUNNING
    assert_free(tenant, task)


def test_a_retry_keeps_the_key_and_the_dead_letter_lets_it_go(tenant: Tenant) -> None:
    task = submit(tenant, max_retries=1).task
    first = claim(task)
    assert finish.write([finish.failed(first, RuntimeError("flaky"), worker="w1")], fence=Q(worker="w1")) == 1
    assert Task.objects.get(pk=task.pk).status == Status.SCHEDULED
    assert_held(tenant, task)
    second = claim(task)
    assert finish.write([finish.failed(second, RuntimeError("again"), worker="w1")], fence=Q(worker="w1")) == 1
    assert Task.objects.get(pk=task.pk).status == Status.FAILED
    assert_free(tenant, task)


def test_cancelling_lets_the_key_go_waiting_or_running(tenant: Tenant, other_tenant: Tenant) -> None:
    waiting = submit(tenant, "a").task
    control.cancel(waiting.pk)
    assert Task.objects.get(pk=waiting.pk).status == Status.CANCELLED
    assert_free(tenant, waiting, "a")
    running = claim(submit(other_tenant, "b").task)
    control.cancel(running.pk)  # asked: the run's fenced end records it
    assert_held(other_tenant, running, "b")
    outcome = finish.succeeded(running, None)
    outcome.cancel_seen = True  # the handler was told, and returned
    assert finish.write([outcome], fence=Q(worker="w1")) == 1
    assert Task.objects.get(pk=running.pk).status == Status.CANCELLED
    assert_free(other_tenant, running, "b")


def test_a_lost_run_rescued_keeps_the_key_until_its_dead_letter(tenant: Tenant) -> None:
    task = submit(tenant, max_lost=0).task
    once = submit(tenant, "twice").task
    for t in (task, once):
        claim(t)
        Task.objects.filter(pk=t.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    # ``once`` may lose one run: back to pending, still holding. ``task`` may lose none: dead-lettered.
    Task.objects.filter(pk=once.pk).update(max_lost=1)
    assert maintenance.rescue_expired() == 2
    assert dict(Task.objects.values_list("pk", "status")) == {task.pk: Status.FAILED, once.pk: Status.PENDING}
    assert_held(tenant, once, "twice")
    assert_free(tenant, task)


def test_a_drain_s_release_keeps_the_key(tenant: Tenant) -> None:
    task = submit(tenant).task
    running = claim(task, start=False)
    assert transitions.release(worker="w1", runs=[(running.pk, running.run)]) == 1
    assert Task.objects.get(pk=task.pk).status == Status.PENDING
    assert_held(tenant, task)


def test_a_requeued_task_does_not_take_its_key_back(tenant: Tenant) -> None:
    task = submit(tenant, max_retries=0).task
    running = claim(task)
    finish.write([finish.failed(running, RuntimeError("boom"), worker="w1")], fence=Q(worker="w1"))
    successor = assert_free(tenant, task)
    control.requeue(task.pk)
    task.refresh_from_db()
    assert task.status == Status.PENDING and task.unique_active is None
    assert_held(tenant, successor)
    # Even with the key free again, the requeued task does not hold it.
    control.cancel(successor.pk)
    assert not holds(task)
    assert submit(tenant).created


def test_a_key_held_while_failed_is_kept_through_the_requeue(tenant: Tenant) -> None:
    task = submit(tenant, max_retries=0, unique_states=["waiting", "running", "failed"]).task
    running = claim(task)
    finish.write([finish.failed(running, RuntimeError("boom"), worker="w1")], fence=Q(worker="w1"))
    assert_held(tenant, task)  # dead-lettered, and failed counts
    control.requeue(task.pk)
    assert Task.objects.get(pk=task.pk).status == Status.PENDING
    assert_held(tenant, task)


def test_one_batch_of_outcomes_lets_go_exactly_the_keys_leaving_their_states(tenant: Tenant,
                                                                             other_tenant: Tenant) -> None:
    # One UPDATE for a completion, a retry and a dead letter: each row gets its own answer.
    done = claim(submit(tenant, "done").task)
    retried = claim(submit(other_tenant, "retried", max_retries=3).task)
    dead = submit(tenant, "dead", max_retries=0).task
    Task.objects.filter(pk=dead.pk).update(status=Status.RUNNING, worker="w1", run=1, attempts=1,
                                           started_at=timezone.now())
    dead.refresh_from_db()
    outcomes = [finish.succeeded(done, 1), finish.failed(retried, RuntimeError("x"), worker="w1"),
                finish.failed(dead, RuntimeError("y"), worker="w1")]
    assert finish.write(outcomes, fence=Q(worker="w1")) == 3
    assert dict(Task.objects.values_list("pk", "unique_active")) == {done.pk: None, retried.pk: "retried",
                                                                      dead.pk: None}


def test_tasks_without_a_key_are_untouched(tenant: Tenant) -> None:
    plain = enqueue_or_get(tenant, {"type": "noop"}).task
    assert (plain.unique_key, plain.unique_active, plain.unique_states) == (None, None, 0)
    running = claim(plain)
    finish.write([finish.succeeded(running, 1)], fence=Q(worker="w1"))
    plain.refresh_from_db()
    assert plain.status == Status.COMPLETED and plain.unique_active is None
