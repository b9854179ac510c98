"""``why.explain``: every reason code from the situation that produces it."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Q

from jobs import clock
from jobs.lifecycle import Status
from jobs.models import Pause, Task, WorkerProcess
from jobs.services import why
from jobs.services.enqueue import enqueue
from jobs.store import finish, pauses, transitions
from tenants.models import Tenant
from tests.support.waiting import wait_for


def explain(task: Task) -> why.Reason:
    task.refresh_from_db()
    return why.explain(task)


def live_worker(*, busy: int, threads: int = 2, queues: str = "") -> WorkerProcess:
    """A worker's registry row as its heartbeat writes it."""
    slots = [{"slot": i, "task_id": 10_000 + i if i < busy else None, "type": None, "tenant_id": None,
              "started_at": None} for i in range(threads)]
    return WorkerProcess.objects.create(id=f"host:{busy}:{queues}", instance="host", hostname="host", pid=1,
                                        queues=queues, threads=threads, slots=slots, last_heartbeat=clock.now())


def claim(tenant: Tenant, n: int = 10, worker: str = "w") -> list[Task]:
    return transitions.claim(worker=worker, asks={tenant.pk: n}, queues=None, lease_seconds=60)


@pytest.fixture(autouse=True)
def _fresh_pauses() -> None:
    pauses.invalidate()


@pytest.mark.django_db
def test_worker_codes_no_worker_busy_and_ready(tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant, queue="reports")
    assert explain(task).code == "no_worker"
    live_worker(busy=0, queues="emails")  # serves another queue only
    assert explain(task).code == "no_worker"
    WorkerProcess.objects.all().delete()
    live_worker(busy=2)
    reason = explain(task)
    assert reason.code == "busy" and reason.detail["free_slots"] == 0
    live_worker(busy=1, queues="reports,emails")
    reason = explain(task)
    assert reason.code == "ready" and reason.detail == {"workers": 2, "free_slots": 1, "ahead_in_tenant": 0}
    # A dead worker's row (heartbeat older than the lease) serves nothing.
    WorkerProcess.objects.update(last_heartbeat=clock.now() - timedelta(minutes=5))
    assert explain(task).code == "no_worker"


@pytest.mark.django_db
def test_scheduled_retry_and_delay(tenant: Tenant) -> None:
    later = enqueue("noop", tenant=tenant, delay=600)
    reason = explain(later)
    assert reason.code == "scheduled" and reason.eta == later.run_at
    assert "enqueued to run later" in reason.message
    failing = enqueue("fail", tenant=tenant)
    [run] = claim(tenant)
    run.attempts, run.started_at = 1, clock.now()
    finish.write([finish.started(finish.failed(run, RuntimeError("boom"), worker="w"), run)], fence=Q(worker="w"))
    reason = explain(failing)
    assert reason.code == "scheduled" and "retries after its back-off" in reason.message and reason.eta


@pytest.mark.django_db
def test_paused_tenant_queue_and_type_name_the_pause(tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant, queue="reports")
    Pause.objects.create(kind=Pause.Kind.QUEUE, value="reports", reason="upstream down", paused_by="ops@host")
    pauses.invalidate()
    reason = explain(task)  # still pending: no claim has met it yet
    assert reason.code == "paused"
    assert reason.detail["kind"] == "queue" and reason.detail["reason"] == "upstream down"
    assert "ops@host" in reason.message
    assert claim(tenant) == []
    assert Task.objects.get(pk=task.pk).status == Status.BLOCKED
    assert explain(task).code == "paused"
    Pause.objects.all().delete()
    Pause.objects.create(kind=Pause.Kind.TENANT, value=tenant.slug)
    pauses.invalidate()
    assert explain(enqueue("noop", tenant=tenant)).detail["kind"] == "tenant"


@pytest.mark.django_db
def test_tenant_limit_and_concurrency_limit_and_running(tenant: Tenant) -> None:
    live_worker(busy=0, threads=8)
    Tenant.objects.filter(pk=tenant.pk).update(max_running=1)
    first = enqueue("noop", tenant=tenant)
    second = enqueue("noop", tenant=tenant)
    transitions.claim(worker="w", asks={tenant.pk: 5}, queues=None, lease_seconds=60, capped={tenant.pk})
    reason = explain(first)
    assert reason.code == "running" and reason.detail["worker"] == "w"
    reason = explain(second)
    assert reason.code == "tenant_limit" and reason.detail == {"tenant": "acme", "max_running": 1, "running": 1}
    Tenant.objects.filter(pk=tenant.pk).update(max_running=None)
    keyed = [enqueue("noop", tenant=tenant, concurrency_key="acct-9", concurrency_limit=1) for _ in range(2)]
    assert explain(keyed[1]).code in ("ready", "busy")
    claim(tenant)
    held, waiting = sorted(keyed, key=lambda t: Task.objects.get(pk=t.pk).status != Status.RUNNING)
    reason = explain(waiting)
    assert reason.code == "concurrency_limit"
    assert reason.detail["key"] == "acct-9" and [h["id"] for h in reason.detail["holders"]] == [held.pk]


@pytest.mark.django_db
def test_finished_codes(tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant)
    [run] = claim(tenant)
    run.attempts = 1
    finish.write([finish.succeeded(run, None)], fence=Q(worker="w"))
    assert explain(task).code == "completed"
    other = enqueue("noop", tenant=tenant)
    transitions.cancel_waiting(Task.objects.filter(pk=other.pk))
    assert explain(other).code == "cancelled"


@pytest.mark.django_db
def test_the_command_answers_in_text_and_json(tenant: Tenant) -> None:
    task = enqueue("noop", tenant=tenant, delay=60)
    out = StringIO()
    call_command("why", str(task.pk), stdout=out)
    assert out.getvalue().startswith(f"#{task.pk} noop (scheduled): scheduled")
    out = StringIO()
    call_command("why", str(task.pk), "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert body["code"] == "scheduled" and body["eta"]
    with pytest.raises(CommandError, match="no such task"):
        call_command("why", "999999")


@pytest.mark.django_db
def test_the_api_answers_for_the_tenant_s_own_tasks_only(tenant: Tenant, other_tenant: Tenant) -> None:
    from tests.support.api import Caller

    mine = enqueue("noop", tenant=tenant)
    theirs = enqueue("noop", tenant=other_tenant)
    api = Caller(tenant)
    body = api.get(f"/api/tasks/{mine.pk}/why").json()
    assert body["code"] == "no_worker" and body["detail"] == {"queue": "default"} and body["eta"] is None
    assert api.get(f"/api/tasks/{theirs.pk}/why").status_code == 404


def test_a_real_worker_produces_running_busy_and_completed(tenant: Tenant, inprocess_worker) -> None:
    slow = [enqueue("sleep", tenant=tenant, payload={"seconds": 3}) for _ in range(2)]
    inprocess_worker.start(threads=2)
    wait_for(lambda: Task.objects.filter(status=Status.RUNNING).count() == 2, what="both slots busy")
    assert explain(slow[0]).code == "running"
    queued = enqueue("noop", tenant=tenant)
    wait_for(lambda: explain(queued).code == "busy", timeout=10, what="the heartbeat to show full slots")
    wait_for(lambda: explain(queued).code == "completed", timeout=20, what="the queued task to run")


@pytest.mark.django_db
def test_the_tally_and_the_filter_agree_with_explain(tenant: Tenant, other_tenant: Tenant) -> None:
    from jobs.services.listing import TaskFilter

    live_worker(busy=0, threads=4)
    Tenant.objects.filter(pk=other_tenant.pk).update(max_running=1)
    tasks = [enqueue("noop", tenant=tenant, concurrency_key="k") for _ in range(3)]
    tasks += [enqueue("noop", tenant=other_tenant) for _ in range(3)]
    tasks += [enqueue("noop", tenant=tenant, delay=300), enqueue("noop", tenant=tenant, queue="reports")]
    Pause.objects.create(kind=Pause.Kind.QUEUE, value="reports")
    pauses.invalidate()
    transitions.claim(worker="w", asks={tenant.pk: 2, other_tenant.pk: 1}, queues=None, lease_seconds=60,
                      capped={other_tenant.pk})
    expected: dict[str, int] = {}
    for task in tasks:
        code = explain(task).code
        expected[code] = expected.get(code, 0) + 1
    tally = {code: n for code, n in why.count_by_reason().items() if n}
    assert tally == {k: v for k, v in expected.items() if k in why.WAITING_CODES}
    assert tally == {"concurrency_limit": 2, "tenant_limit": 2, "scheduled": 1, "paused": 1}
    for code in ("concurrency_limit", "tenant_limit", "paused", "running"):
        qs = TaskFilter({"why": code}, queryset=Task.objects.all()).qs
        assert {explain(t).code for t in qs} == {code}
        assert qs.count() == expected[code]
    assert TaskFilter({"why": "bogus"}, queryset=Task.objects.all()).is_valid() is False


@pytest.mark.django_db
def test_rate_limit_names_the_resource_and_its_next_token(tenant: Tenant) -> None:
    from jobs.services import resources

    live_worker(busy=0, threads=4)
    resources.define("partner-api", rate=1, per_seconds=60, per_tenant=False)
    _first, second = (enqueue("noop", tenant=tenant, resource="partner-api") for _ in range(2))
    assert len(claim(tenant, 1)) == 1  # takes the window's one start
    reason = explain(second)  # pending, not yet met by a claim: the window is full
    assert reason.code == "rate_limit" and reason.detail["resource"] == "partner-api" and reason.eta
    assert claim(tenant) == []
    assert Task.objects.get(pk=second.pk).status == Status.SCHEDULED
    reason = explain(second)  # throttled: scheduled until the token is due
    assert reason.code == "rate_limit" and reason.eta is not None and reason.eta > clock.now()
    assert why.count_by_reason()["rate_limit"] == 1
