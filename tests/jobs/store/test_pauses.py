"""jobs.store.pauses: pause (validated, idempotent) and resume (unblocks exactly what the pause parked)."""

import pytest

from jobs.exceptions import InvalidPause, NotPaused
from jobs.lifecycle import Event, Status
from jobs.models import Event as EventRow
from jobs.models import Pause, Task
from jobs.store import pauses
from tenants.models import Tenant
from tests.support.builders import add_task

pytestmark = pytest.mark.django_db


def parked(tenant: Tenant, *, queue: str = "default", type: str = "noop") -> Task:
    """A task as a claim parks it when its queue or type is paused."""
    return add_task(tenant, type, status=Status.BLOCKED, blocked_on="pause", queue=queue)


def unblocked_events() -> list[int]:
    return [c["task"] for e in EventRow.objects.order_by("id") for c in e.changes
            if c["event"] == Event.UNBLOCKED.value]


def test_pause_writes_the_row_and_the_cache_sees_it_at_once(tenant: Tenant) -> None:
    assert not pauses.current()
    row = pauses.pause("queue", " emails ", reason="SMTP down", by="ops@host")
    assert (row.kind, row.value, row.reason, row.paused_by) == ("queue", "emails", "SMTP down", "ops@host")
    assert pauses.current().queues == {"emails"}  # invalidated: no wait for the cache interval
    pauses.pause("tenant", "acme")
    now = pauses.current()
    assert now.tenant_ids == {tenant.pk} and now.tenant_slugs == {"acme"}


def test_pausing_again_updates_reason_and_who_but_keeps_since() -> None:
    first = pauses.pause("type", "noop", reason="one", by="a")
    again = pauses.pause("type", "noop", reason="two", by="b")
    assert Pause.objects.count() == 1
    assert (again.pk, again.reason, again.paused_by, again.created_at) == (first.pk, "two", "b", first.created_at)


@pytest.mark.parametrize(("kind", "value", "field", "words"), [
    ("lane", "x", "kind", "queue, type, tenant"),
    ("queue", "", "value", "name"),
    ("queue", "   ", "value", "name"),
    ("queue", "q" * 65, "value", "at most 64"),
    ("queue", "bad\x00name", "value", "control"),
    ("type", "no_such_type", "value", "unknown task type"),
    ("type", "t" * 101, "value", "at most 100"),
    ("tenant", "nobody", "value", "no tenant 'nobody'"),
])
def test_bad_pauses_are_refused_naming_the_field(tenant: Tenant, kind: str, value: str, field: str,
                                                 words: str) -> None:
    with pytest.raises(InvalidPause) as caught:
        pauses.pause(kind, value)
    assert caught.value.field == field and words in caught.value.message
    assert not Pause.objects.exists()


def test_bad_reason_is_refused() -> None:
    with pytest.raises(InvalidPause, match="reason"):
        pauses.pause("queue", "q", reason="r" * 501)
    with pytest.raises(InvalidPause, match="reason"):
        pauses.pause("queue", "q", reason="nul\x00")
    assert pauses.pause("queue", "q", reason="two\nlines").reason == "two\nlines"


def test_a_type_known_only_from_the_task_table_can_be_paused(tenant: Tenant) -> None:
    add_task(tenant, "imported_by_workers_only")
    assert pauses.pause("type", "imported_by_workers_only").value == "imported_by_workers_only"


def test_resume_unblocks_only_the_matching_pause_parked_tasks(tenant: Tenant, other_tenant: Tenant) -> None:
    pauses.pause("queue", "emails")
    mine = [parked(tenant, queue="emails"), parked(other_tenant, queue="emails")]
    other_queue = parked(tenant, queue="reports")
    by_key = add_task(tenant, status=Status.BLOCKED, blocked_on="key", queue="emails", concurrency_key="k")
    pending = add_task(tenant, queue="emails")
    running = add_task(tenant, status=Status.RUNNING, queue="emails", worker="w", run=1)
    assert pauses.resume("queue", "emails") == 2
    for t in mine:
        t.refresh_from_db()
        assert (t.status, t.blocked_on) == (Status.PENDING, None)
    for t, status in ((other_queue, Status.BLOCKED), (by_key, Status.BLOCKED), (pending, Status.PENDING),
                      (running, Status.RUNNING)):
        assert Task.objects.get(pk=t.pk).status == status
    assert Task.objects.get(pk=by_key.pk).blocked_on == "key"
    assert sorted(unblocked_events()) == sorted(t.pk for t in mine)
    assert not Pause.objects.exists() and not pauses.current()


def test_resume_works_in_batches(tenant: Tenant) -> None:
    pauses.pause("type", "noop")
    tasks = [parked(tenant) for _ in range(7)]
    assert pauses.resume("type", "noop", batch=3) == 7
    assert set(Task.objects.filter(pk__in=[t.pk for t in tasks]).values_list("status", flat=True)) == {"pending"}
    assert EventRow.objects.count() == 3  # one outbox row per batch's transaction (one tenant)


def test_a_task_held_by_another_pause_stays_parked(tenant: Tenant) -> None:
    pauses.pause("queue", "emails")
    pauses.pause("type", "noop")
    both = parked(tenant, queue="emails", type="noop")
    only_queue = parked(tenant, queue="emails", type="sleep")
    assert pauses.resume("queue", "emails") == 1
    assert Task.objects.get(pk=only_queue.pk).status == Status.PENDING
    assert Task.objects.get(pk=both.pk).status == Status.BLOCKED
    assert pauses.resume("type", "noop") == 1
    assert Task.objects.get(pk=both.pk).status == Status.PENDING


def test_resume_of_a_tenant_unblocks_its_pause_parked_tasks(tenant: Tenant, other_tenant: Tenant) -> None:
    pauses.pause("tenant", "acme")
    mine, theirs = parked(tenant, queue="x"), parked(other_tenant, queue="x")
    assert pauses.resume("tenant", "acme") == 1
    assert Task.objects.get(pk=mine.pk).status == Status.PENDING
    assert Task.objects.get(pk=theirs.pk).status == Status.BLOCKED


def test_resume_of_what_is_not_paused(tenant: Tenant) -> None:
    with pytest.raises(NotPaused):
        pauses.resume("queue", "never")
    with pytest.raises(InvalidPause, match="kind"):
        pauses.resume("lane", "x")
    # Parked by a claim whose cache still had a lifted pause: a resume recovers them all the same.
    stray = parked(tenant, queue="lifted")
    assert pauses.resume("queue", "lifted") == 1
    assert Task.objects.get(pk=stray.pk).status == Status.PENDING


def test_pause_survives_a_fresh_process_view() -> None:
    pauses.pause("queue", "emails", reason="r", by="b")
    pauses.invalidate()
    loaded = pauses.load()
    assert loaded.queues == {"emails"} and [p.reason for p in loaded.rows] == ["r"]
    assert loaded.blocks(Task(queue="emails", type="noop")) and not loaded.blocks(Task(queue="x", type="noop"))
