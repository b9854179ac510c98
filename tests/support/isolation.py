"""Two tenants' worth of tasks, to show that one tenant's key never reaches the other's."""

from datetime import timedelta

from django.utils import timezone

from jobs.models import Task
from tests.support.api import Caller
from tests.support.builders import finish, make_task


class World:
    """Tenant A (``acme``) with two tasks; tenant B (``globex``) with one task in every state."""

    def __init__(self, a: Caller, b: Caller) -> None:
        now = timezone.now()
        self.a, self.b = a, b
        self.a_tasks = [
            make_task(a.tenant, "noop", priority=1, created_at=now - timedelta(hours=3)),
            finish(make_task(a.tenant, "noop", priority=1), "completed", wait_ms=10, exec_ms=20,
                   finished_at=now - timedelta(hours=2)),
        ]
        kw = {"priority": 5, "queue": "b-queue"}
        self.b_pending = make_task(b.tenant, "sleep", idempotency_key="shared-key", **kw)
        self.b_scheduled = make_task(b.tenant, "sleep", status="scheduled", run_at=now + timedelta(hours=1), **kw)
        self.b_running = make_task(b.tenant, "sleep", status="running", started_at=now, worker="host:9:b", **kw)
        self.b_completed = finish(make_task(b.tenant, "send_email", **kw), "completed", wait_ms=5, exec_ms=5)
        self.b_failed = finish(make_task(b.tenant, "send_email", **kw), "failed", wait_ms=5, exec_ms=5)
        self.b_cancelled = finish(make_task(b.tenant, "sleep", **kw), "cancelled", wait_ms=None, exec_ms=None)

    @property
    def a_ids(self) -> set[int]:
        return {t.pk for t in self.a_tasks}

    @property
    def b_ids(self) -> set[int]:
        return {t.pk for t in (self.b_pending, self.b_scheduled, self.b_running, self.b_completed, self.b_failed,
                               self.b_cancelled)}

    def b_statuses(self) -> dict[int, str]:
        return dict(Task.objects.filter(pk__in=self.b_ids).values_list("pk", "status"))

