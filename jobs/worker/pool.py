"""Executor threads: run claimed tasks, report outcomes, track what each slot does."""

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import close_old_connections
from django.db.utils import DatabaseError

from .. import clock
from ..conf import conf
from ..context import TaskContext
from ..exceptions import TaskTimeout
from ..fairness import TenantCache
from ..models import Task
from ..registry import registry
from ..store import finish as outcomes
from ..store import transitions

logger = logging.getLogger(__name__)

#: A run of a task: (task id, claim token). The same task may be held twice by one process
#: (a lapsed lease rescued, then re-claimed here); only the current run may write or renew.
RunKey = tuple[int, int]


@dataclass(slots=True, eq=False)
class Execution:
    task: Task
    ctx: TaskContext
    slot: int = -1
    started: float = 0.0
    started_at: datetime = datetime.min
    deadline: float = 0.0
    abandoned: bool = False

    @property
    def key(self) -> RunKey:
        return (self.task.pk, self.task.run)


@dataclass(slots=True)
class Slot:
    generation: int = 0
    execution: Execution | None = None
    thread: threading.Thread | None = field(default=None, repr=False)


class ExecutorPool:
    """``threads`` executor slots fed by a queue; at most ``threads`` tasks are held."""

    def __init__(
        self,
        *,
        threads: int,
        worker_id: str,
        report: Callable[[outcomes.Outcome], None],
        record_start: Callable[[int, int, datetime], None],
        on_free: Callable[[], None],
        tenants: TenantCache,
        hold_back: Callable[[Task], bool] = lambda task: False,
    ) -> None:
        c = conf()
        self.threads = threads
        self.worker_id = worker_id
        self.report = report
        self.record_start = record_start
        self.on_free = on_free
        self.tenants = tenants
        #: Asked before a claimed run starts: True if it was handed back instead (paused since its claim).
        self.hold_back = hold_back
        self.inbox: queue.SimpleQueue[Execution | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle_cond = threading.Condition(self.lock)
        self.held: dict[RunKey, Execution] = {}  # claimed and not finished, by run
        self.slots = [Slot() for _ in range(threads)]
        #: Threads given up on (timeouts) whose handler may still be running.
        self.abandoned: list[threading.Thread] = []
        self.accepting = True
        self.prefetch = threads * c.PREFETCH_PER_THREAD
        self.fast_seconds = c.FAST_TASK_SECONDS
        #: Moving average of run time; decides whether prefetching is worth it.
        self.average_seconds = self.fast_seconds

    def start(self) -> None:
        for index in range(self.threads):
            self._start_thread(index)

    def _start_thread(self, index: int) -> None:
        slot = self.slots[index]
        generation = slot.generation
        slot.thread = threading.Thread(
            target=self._work, args=(index, generation), name=f"executor-{index}.{generation}", daemon=True
        )
        slot.thread.start()

    def abandoned_alive(self) -> int:
        """Abandoned threads still running their handler (one that stopped when told frees its thread)."""
        with self.lock:
            self.abandoned = [t for t in self.abandoned if t.is_alive()]
            return len(self.abandoned)

    def free_slots(self) -> int:
        """How many more tasks to claim: idle threads, plus a prefetch while tasks are fast."""
        with self.lock:
            if not self.accepting:
                return 0
            extra = self.prefetch if self.average_seconds < self.fast_seconds else 0
            return max(0, self.threads + extra - len(self.held))

    def busy(self) -> bool:
        with self.lock:
            return bool(self.held)

    def held_runs(self) -> list[RunKey]:
        with self.lock:
            return list(self.held)

    def executions(self) -> list[Execution]:
        with self.lock:
            return list(self.held.values())

    def submit(self, task: Task) -> None:
        ctx = TaskContext(task_id=task.pk, attempt=task.attempts, tenant_id=task.tenant_id,
                          tenant_slug=self.tenants.slug(task.tenant_id), type=task.type, queue=task.queue,
                          worker=self.worker_id)
        execution = Execution(task=task, ctx=ctx)
        with self.lock:
            self.held[execution.key] = execution
        self.inbox.put(execution)

    def _work(self, index: int, generation: int) -> None:
        while True:
            execution = self.inbox.get()
            if execution is None:
                return
            if not execution.abandoned and self.hold_back(execution.task):
                with self.lock:
                    self._forget(execution)
                self.on_free()
                continue
            with self.lock:
                if execution.abandoned:
                    continue  # released during shutdown before it started
                execution.slot = index
                execution.started = time.monotonic()
                # Whole ms: runs started together share a value, so a batched write has few CASE arms.
                now = clock.now()
                execution.started_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
                execution.deadline = execution.started + execution.task.timeout
                self.slots[index].execution = execution
                # Under the lock: a drain that finds the run started also finds its attempt counted.
                task = execution.task
                task.attempts += 1
                task.started_at = execution.started_at
                execution.ctx.attempt = task.attempts
            if not self._begin(execution):
                with self.lock:
                    self.slots[index].execution = None
                    self._forget(execution)
                self.on_free()
                continue
            outcome = self._run(execution)
            elapsed = time.monotonic() - execution.started
            with self.lock:
                self.average_seconds += (elapsed - self.average_seconds) * 0.1
                if self.slots[index].generation != generation:
                    # The watchdog gave up on this thread and replaced it: its late result
                    # is void (the attempt was already failed) and the thread retires.
                    return
                # Hand the outcome to the completer before the task leaves ``held``: something
                # always accounts for it (burst mode's "all done?" check, the lease renewals).
                self.report(outcome)
                self.slots[index].execution = None
                self._forget(execution)
            self.on_free()

    def _forget(self, execution: Execution) -> None:  # under the lock
        self.held.pop(execution.key, None)
        if not self.held:
            self.idle_cond.notify_all()

    def _begin(self, execution: Execution) -> bool:
        """Have the run's start recorded (batched by the completer); False if its claim is gone.
        A task handed back before (returned or lost) records it first, with a round trip: if it is
        what kills its worker, the loss is charged and ``max_lost`` ends it."""
        task, at = execution.task, execution.started_at
        if not (task.returned or task.lost):
            self.record_start(task.pk, task.run, at)
            return True
        try:
            started = transitions.mark_started(worker=self.worker_id, starts=[(task.pk, task.run, at)])
        except DatabaseError as exc:
            logger.warning("task %s: could not record its start first (%s); recording it batched", task.pk, exc)
            self.record_start(task.pk, task.run, at)
            return True
        finally:
            close_old_connections()
        if not started:
            logger.warning("task %s: its claim (run %s) was taken before it started", *execution.key)
        return bool(started)

    def _run(self, execution: Execution) -> outcomes.Outcome:
        task = execution.task
        try:
            task_type = registry.get(task.type)
            result = task_type.func(task.payload, execution.ctx)
            outcome = outcomes.succeeded(task, result)
            outcome.cancel_seen = execution.ctx.cancelled
        except BaseException as exc:  # noqa: BLE001 — a handler must never kill its thread
            outcome = outcomes.failed(task, exc, worker=self.worker_id)
        finally:
            close_old_connections()
        return outcomes.started(outcome, task)

    def time_out(self, execution: Execution) -> bool:
        """Fail a run past its deadline and give its slot to a fresh thread; False if it already ended."""
        task = execution.task  # Python cannot kill a thread: the attempt fails now, its thread is abandoned.
        outcome = outcomes.started(outcomes.failed(task, TaskTimeout(f"exceeded its timeout of {task.timeout}s"),
                                                   worker=self.worker_id, with_traceback=False), task)
        with self.lock:
            if execution.abandoned or self.held.get(execution.key) is not execution:
                return False
            # As in ``_work``: the completer has the outcome before the task leaves ``held``.
            self.report(outcome)
            execution.abandoned = True
            self._forget(execution)
            if execution.slot >= 0:
                slot = self.slots[execution.slot]
                slot.generation += 1
                slot.execution = None
                if slot.thread is not None:
                    self.abandoned.append(slot.thread)
                self._start_thread(execution.slot)
        execution.ctx.cancel()  # cooperative handlers can still stop early
        self.on_free()
        return True

    def stop_accepting(self) -> list[Execution]:
        """Stop taking work; return (and void) what was claimed but never started."""
        unstarted = []
        with self.lock:
            self.accepting = False
            for execution in list(self.held.values()):
                if execution.slot < 0:
                    execution.abandoned = True
                    self.held.pop(execution.key)
                    unstarted.append(execution)
            if not self.held:
                self.idle_cond.notify_all()
        return unstarted

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.lock:
            while self.held:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.idle_cond.wait(remaining)
        return True

    def abandon_all(self) -> list[Execution]:
        """Void every held execution (end of the drain): late results are dropped."""
        with self.lock:
            left = list(self.held.values())
            for execution in left:
                execution.abandoned = True
                if execution.slot >= 0:
                    self.slots[execution.slot].generation += 1
            self.held.clear()
        for execution in left:
            execution.ctx.cancel()
        return left

    def shutdown(self) -> None:
        for _ in self.slots:
            self.inbox.put(None)

    def snapshot(self) -> list[dict[str, Any]]:
        """Busy/idle per slot, for the worker registry."""
        with self.lock:
            rows = []
            for index, slot in enumerate(self.slots):
                e = slot.execution
                rows.append({
                    "slot": index,
                    "task_id": e.task.pk if e else None,
                    "type": e.task.type if e else None,
                    "tenant_id": e.task.tenant_id if e else None,
                    "started_at": e.started_at.isoformat() if e else None,
                })
            return rows
