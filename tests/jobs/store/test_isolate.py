"""No row can wedge a writer: a row the database refuses is isolated (the rest of its batch lands,
it is recorded as a minimal failure or skipped), and one UPDATE stays within a byte bound."""

import logging
from datetime import timedelta

import pytest
from django.db import DatabaseError, OperationalError, connection, connections
from django.db.models import Q
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.models import Event, Task
from jobs.services import maintenance
from jobs.services.enqueue import enqueue
from jobs.store import finish, isolate, transitions
from jobs.worker.rescuer import Rescuer
from tests.support.refusals import ANY_END, locked_elsewhere, refused

pytestmark = pytest.mark.django_db(transaction=True)

BOUNDS = {"max_rows": 500, "max_bytes": 4 * 1024 * 1024}


def _claim(tenant, n: int) -> list[Task]:
    for _ in range(n):
        enqueue("noop", tenant=tenant)
    claimed = transitions.claim(worker="w1", asks={tenant.pk: n}, queues=None, lease_seconds=60)
    assert len(claimed) == n
    # Their handlers start, as the executor pool's would: one attempt each, recorded.
    now = timezone.now()
    for task in claimed:
        task.attempts, task.started_at = task.attempts + 1, now
    assert transitions.mark_started(worker="w1", starts=[(t.pk, t.run, now) for t in claimed]) == n
    return sorted(claimed, key=lambda t: t.pk)


def _changes(task: Task) -> list[dict]:
    return [c for e in Event.objects.order_by("id") for c in e.changes if c["task"] == task.pk]


def test_a_refused_completion_fails_alone_and_the_rest_of_the_batch_lands(tenant, caplog):
    tasks = _claim(tenant, 5)
    bad = tasks[2]
    with refused(bad.pk) as message:
        with pytest.raises(DatabaseError):  # the whole statement is refused, as before
            finish.write([finish.succeeded(t, {"n": t.pk}) for t in tasks], fence=Q(worker="w1"))
        outcomes = [finish.succeeded(t, {"n": t.pk}) for t in tasks]
        assert isolate.write_all(outcomes, fence=Q(worker="w1"), **BOUNDS) == 5
    rows = {t.pk: t for t in Task.objects.all()}
    assert {pk: (t.status, t.result) for pk, t in rows.items() if pk != bad.pk} == {
        t.pk: (Status.COMPLETED, {"n": t.pk}) for t in tasks if t.pk != bad.pk}
    row = rows[bad.pk]
    assert (row.status, row.result, row.finished_at is not None) == (Status.FAILED, None, True)
    (entry,) = row.errors
    assert entry["type"] == "UnwritableOutcome" and message in entry["message"] and entry["attempt"] == 1
    assert len(entry["message"]) <= 500
    assert _changes(bad)[-1]["event"] == "task.failed" and "UnwritableOutcome" in _changes(bad)[-1]["error"]
    assert "refused its completed outcome" in caplog.text


def test_a_run_refused_even_its_minimal_failure_is_skipped_and_logged(tenant, caplog):
    caplog.set_level(logging.ERROR, logger="jobs.store.isolate")
    tasks = _claim(tenant, 4)
    bad = tasks[0]
    with refused(bad.pk, ANY_END):
        assert isolate.write_all([finish.succeeded(t, "ok") for t in tasks], fence=Q(worker="w1"), **BOUNDS) == 3
    statuses = dict(Task.objects.values_list("pk", "status"))
    assert statuses == {t.pk: Status.RUNNING if t.pk == bad.pk else Status.COMPLETED for t in tasks}
    assert "refused even a minimal failure" in caplog.text
    # Nothing of the refused run was recorded: its lease lapses and the rescue takes it from there.
    assert Task.objects.get(pk=bad.pk).errors == [] and _changes(bad)[-1]["event"] == "task.started"


def test_a_refused_failure_drops_its_history_and_counts_it(tenant):
    task = _claim(tenant, 1)[0]
    Task.objects.filter(pk=task.pk).update(errors=[{"attempt": 0, "type": "Old", "message": "m"}], errors_dropped=2)
    task.refresh_from_db()
    with refused(task.pk, "NEW.status = 'scheduled'"):
        outcome = finish.failed(task, RuntimeError("boom"), worker="w1")
        assert outcome.status == Status.SCHEDULED
        assert isolate.write_all([outcome], fence=Q(worker="w1"), **BOUNDS) == 1
    task.refresh_from_db()
    assert task.status == Status.FAILED and [e["type"] for e in task.errors] == ["UnwritableOutcome"]
    assert task.errors_dropped == 3, "the two dropped before and the one entry that was stored"


def test_a_refused_rescue_dead_letters_that_task_and_every_round_makes_progress(tenant):
    past = timezone.now() - timedelta(seconds=1)
    tasks = _claim(tenant, 4)
    Task.objects.update(lease_expires_at=past)
    bad, blocked = tasks[1], tasks[3]
    with refused(bad.pk, "NEW.status = 'pending'"), refused(blocked.pk, ANY_END):
        # The refused rescue becomes a minimal failure; the row that refuses everything is skipped.
        assert maintenance.rescue_expired() == 3
        assert maintenance.rescue_expired() == 0, "the next round only meets the skipped row, and returns"
        Rescuer().step()  # loops while rounds rescue something: it ends
        assert Task.objects.get(pk=blocked.pk).status == Status.RUNNING
    statuses = dict(Task.objects.values_list("pk", "status"))
    assert statuses == {tasks[0].pk: Status.PENDING, bad.pk: Status.FAILED, tasks[2].pk: Status.PENDING,
                        blocked.pk: Status.RUNNING}
    row = Task.objects.get(pk=bad.pk)
    assert [e["type"] for e in row.errors] == ["UnwritableOutcome"] and row.lost == 1 and row.worker is None
    assert "task.rescued" not in [c["event"] for c in _changes(bad)]
    # Once the database takes the write again, the next round rescues the skipped row.
    assert maintenance.rescue_expired() == 1 and Task.objects.get(pk=blocked.pk).status == Status.PENDING


def test_batches_are_cut_by_bytes_and_an_outcome_too_large_for_any_is_failed(tenant):
    tasks = _claim(tenant, 7)
    outcomes = [finish.succeeded(t, {"blob": "x" * 20_000}) for t in tasks[:6]]
    outcomes.append(finish.succeeded(tasks[6], {"blob": "y" * 60_000}))
    chunks = list(isolate.chunks(outcomes, max_rows=500, max_bytes=50_000))
    assert [len(c) for c in chunks] == [2, 2, 3], "the big one, failed, is small enough to join the last"
    assert all(sum(isolate.size(o) for o in c) <= 50_000 for c in chunks)
    assert [len(c) for c in isolate.chunks(outcomes[:6], max_rows=5, max_bytes=10**9)] == [5, 1]
    assert isolate.write_all(outcomes, fence=Q(worker="w1"), max_rows=500, max_bytes=50_000) == 7
    assert Task.objects.filter(status=Status.COMPLETED).count() == 6
    big = Task.objects.get(pk=tasks[6].pk)
    assert big.status == Status.FAILED and big.result is None and "MAX_WRITE_BYTES" in big.errors[0]["message"]


def test_the_size_estimate_counts_what_the_driver_sends(tenant):
    (task,) = _claim(tenant, 1)
    plain = isolate.size(finish.succeeded(task, "a" * 1000))
    quoted = isolate.size(finish.succeeded(task, '"' * 1000))  # JSON \" then escaped again in SQL: 4 bytes each
    accented = isolate.size(finish.succeeded(task, "é" * 1000))  # JSON \u00e9: 6 bytes, the backslash doubled
    assert quoted - plain == 3000 and accented - plain == 6000


def test_a_busy_database_is_not_taken_for_bad_data(tenant):
    tasks = _claim(tenant, 2)
    with locked_elsewhere(tasks[0].pk), pytest.raises(OperationalError) as busy:
        isolate.write_all([finish.succeeded(t, "ok") for t in tasks], fence=Q(worker="w1"), **BOUNDS)
    assert "locked" in str(busy.value) or busy.value.args[0] == 1205  # SQLite BUSY / MariaDB lock wait timeout
    assert set(Task.objects.values_list("status", flat=True)) == {Status.RUNNING}, "nothing isolated"
    assert not Task.objects.exclude(errors=[]).exists()


@pytest.mark.mariadb
def test_a_connection_killed_under_the_writer_is_not_taken_for_bad_data(tenant):
    tasks = _claim(tenant, 2)
    other = connections.create_connection("default")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT CONNECTION_ID()")
            (mine,) = cursor.fetchone()
        with other.cursor() as cursor:
            cursor.execute(f"KILL {int(mine)}")
        with pytest.raises(OperationalError) as lost:
            isolate.write_all([finish.succeeded(t, "ok") for t in tasks], fence=Q(worker="w1"), **BOUNDS)
        assert lost.value.args[0] in (2006, 2013)
    finally:
        other.close()
        connection.close()
    assert set(Task.objects.values_list("status", flat=True)) == {Status.RUNNING}
    assert not Task.objects.exclude(errors=[]).exists()


@pytest.mark.mariadb
def test_a_batch_over_the_servers_packet_limit_is_cut_below_it(tenant, settings):
    """A real 1 MiB ``max_allowed_packet``: one UPDATE of every outcome is refused, the bounded chunks land."""
    settings.JOBS = {**settings.JOBS, "MAX_RESULT_BYTES": 300_000}
    tasks = _claim(tenant, 12)
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@GLOBAL.max_allowed_packet")
        (packet,) = cursor.fetchone()
        cursor.execute("SET GLOBAL max_allowed_packet = 1048576")
    connection.close()  # the limit applies to new connections
    try:
        outcomes = [finish.succeeded(t, {"blob": "z" * 200_000, "n": t.pk}) for t in tasks]
        # The server hangs up on a packet too large: the client sees "gone away", like a lost connection,
        # so the isolation cannot help (it propagates, as it must for a lost connection): only the bound can.
        with pytest.raises(OperationalError) as gone:
            isolate.write_chunk(outcomes, fence=Q(worker="w1"))
        assert gone.value.args[0] in (2006, 2013)
        connection.close()
        outcomes = [finish.succeeded(t, {"blob": "z" * 200_000, "n": t.pk}) for t in tasks]
        assert isolate.write_all(outcomes, fence=Q(worker="w1"), max_rows=500, max_bytes=512 * 1024) == 12
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET GLOBAL max_allowed_packet = %s", [packet])
        connection.close()
    assert Task.objects.filter(status=Status.COMPLETED).count() == 12
