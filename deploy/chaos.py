"""Chaos on the local topology: nothing may be lost.

While ``tasks`` short tasks flow in over HTTP through nginx (batches of ``batch`` with
idempotency keys, retried until a 2xx), the run

1. kills -9 a worker supervisor and its children (its process group), then restarts it once
   its tasks have been rescued by the others;
2. kills -9 a web instance, and restarts it a few seconds later;
3. restarts MariaDB (SIGTERM, wait, start again on the same datadir and port) while
   hammering ``GET /api/tasks`` and ``POST /api/tasks`` through nginx and on one web
   instance directly, recording every status;
4. stops Redis for ``redis_down`` seconds (terminated, then started again on its port).

Then it waits for every task to finish and checks: every task is ``completed`` or ``failed``
(none lost, none left ``running``); every enqueue that got a 2xx exists; only tasks a killed
worker held ran more than once (executions are counted from the ``task.started`` changes
in the event outbox; a task "held" by the killed worker has a ``WorkerLost`` error naming
it); and no request ever got a 500 (503 is the answer while the database is down; nginx's
502 while a web instance dies mid-request, or when every upstream answered 503, is counted
and reported, not a failure).

``python manage.py chaos`` (or ``python deploy/chaos.py``) runs it and prints the figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python deploy/chaos.py`
    sys.path.insert(0, str(ROOT))

from deploy.topology import FAST_TIMINGS, Topology, TopologyError  # noqa: E402

FINISHED = ("completed", "failed", "cancelled")
#: Requests this long after MariaDB is back still count as "during the outage" (stale pooled connections).
RECONNECT_SECONDS = 5.0

#: The chaos run's engine timings: the tests' fast ones. A dead worker's tasks are rescued within
#: LEASE + RESCUE ≈ 5 s. The lease must outlast a MariaDB restart (else every running task's lease
#: lapses while nobody can renew it, and those tasks run twice): 10 s covers the 2–5 s restarts here.
CHAOS_TIMINGS: dict[str, str] = {**FAST_TIMINGS, "JOBS_LEASE_SECONDS": "10"}


@dataclass
class Config:
    tasks: int = 10_000
    batch: int = 100
    #: Seconds over which the submissions are spread; the disruptions happen within them.
    duration: float = 60.0
    redis_down: float = 10.0
    sleep_min: float = 0.02
    sleep_max: float = 0.05
    webs: int = 3
    workers: int = 3
    processes: int = 1
    threads: int = 4
    submitters: int = 3
    #: Seconds the tasks may take to finish after the last submission.
    settle_timeout: float = 600.0
    victim_worker: int = 2
    victim_web: int = 2
    #: The web instance hammered directly during the database restart (besides nginx).
    direct_web: int = 1
    seed: int = 6
    timings: dict[str, str] = field(default_factory=lambda: dict(CHAOS_TIMINGS))

    @classmethod
    def bounded(cls) -> Config:
        """The CI version: 1,500 tasks, Redis down 5 s."""
        return cls(tasks=1_500, batch=50, duration=30.0, redis_down=5.0, settle_timeout=180.0)


@dataclass
class Call:
    """One HTTP request the run made: when, what, where, and the status (0: no response)."""

    at: float
    kind: str
    target: str
    status: int
    detail: str = ""


@dataclass
class Report:
    config: dict[str, Any]
    submitted: int = 0
    acked: int = 0
    tasks_in_db: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    missing_acked: list[int] = field(default_factory=list)
    unfinished: list[int] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    executions: int = 0
    duplicate_tasks: int = 0
    duplicate_executions: int = 0
    held_by_killed: int = 0
    unexplained_duplicates: list[int] = field(default_factory=list)
    statuses_seen: dict[str, dict[str, int]] = field(default_factory=dict)
    db_outage_statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    server_errors: list[dict[str, Any]] = field(default_factory=list)
    #: Why nginx answered 502 (its error.log): "no live upstreams", "connect() failed", …
    nginx_errors: dict[str, int] = field(default_factory=dict)
    longest_recovery: float = 0.0
    longest_recovery_event: str = ""
    drain_seconds: float = 0.0
    wall_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def summary(self) -> str:
        lines = [
            f"tasks: {self.acked:,} acknowledged by a 2xx of {self.submitted:,} submitted; {self.tasks_in_db:,} in the "
            f"database; statuses {self.statuses}",
            f"kills: {', '.join(self.kills) or 'none'}",
        ]
        for e in self.events:
            figures = ", ".join(f"{k} {v:.1f} s" if isinstance(v, float) else f"{k} {v}"
                                for k, v in e.items() if k not in {"event", "at"})
            lines.append(f"  {e['event']}: {figures}")
        lines += [
            f"longest recovery: {self.longest_recovery:.1f} s ({self.longest_recovery_event}; counted from the kill, "
            "or from the restarted server accepting connections, to tasks completing, a 2xx enqueue through nginx "
            "and, for a killed worker, its tasks rescued)",
            f"executions: {self.executions:,} for {self.tasks_in_db:,} tasks; duplicate executions "
            f"{self.duplicate_executions} ({self.duplicate_tasks} task(s)), all of them among the "
            f"{self.held_by_killed} task(s) the killed worker held" if not self.unexplained_duplicates else
            f"executions: {self.executions:,}; UNEXPLAINED duplicates: {self.unexplained_duplicates[:20]}",
            f"HTTP statuses (all requests): {self.statuses_seen}",
            f"HTTP statuses while MariaDB was down (and {RECONNECT_SECONDS:g} s after): {self.db_outage_statuses}",
            f"500s: {len(self.server_errors)}; nginx's error log: {self.nginx_errors}",
            f"drained {self.drain_seconds:.1f} s after the last submission; whole run {self.wall_seconds:.0f} s",
            "RESULT: " + ("OK — nothing lost" if self.ok else "FAILED\n  " + "\n  ".join(self.problems)),
        ]
        return "\n".join(lines)


NGINX_ERROR_KINDS = ("no live upstreams", "connect() failed", "upstream prematurely closed", "recv() failed",
                     "upstream timed out", "writev() failed", "readv() failed")


def nginx_error_kinds(path: Path) -> dict[str, int]:
    """Count nginx's error.log lines by the kind of upstream failure."""
    kinds: Counter[str] = Counter()
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    for line in text.splitlines():
        if "[error]" not in line and "[warn]" not in line:
            continue
        kind = next((k for k in NGINX_ERROR_KINDS if k in line), "other")
        kinds[kind] += 1
    return dict(kinds)


def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


class Chaos:
    def __init__(self, config: Config | None = None, *, log: Callable[[str], None] | None = None,
                 topology: Topology | None = None) -> None:
        self.config = config or Config()
        self.log = log or (lambda text: print(text, flush=True))  # noqa: T201
        self.topology = topology
        self.calls: list[Call] = []
        self.calls_lock = threading.Lock()
        self.acked: dict[str, int] = {}       # idempotency key → task id, from 2xx answers
        self.acked_lock = threading.Lock()
        self.submitted = 0
        self.events: list[dict[str, Any]] = []
        self.kills: list[str] = []
        self.killed_prefixes: list[str] = []
        self.db_window: tuple[float, float] | None = None
        self.abort = threading.Event()
        self.problems: list[str] = []
        self.last_submit = 0.0
        self.followers: list[threading.Thread] = []

    # -- plumbing ------------------------------------------------------------------------------------

    @property
    def topo(self) -> Topology:
        if self.topology is None:
            raise TopologyError("no topology")
        return self.topology

    def record(self, kind: str, target: str, status: int, at: float, detail: str = "") -> None:
        with self.calls_lock:
            self.calls.append(Call(at=at, kind=kind, target=target, status=status, detail=detail))

    def request(self, kind: str, method: str, path: str, body: Any = None, *, web: int | None = None,
                timeout: float = 30) -> tuple[int, Any]:
        port = self.topo.web(web).port if web else None
        target = f"web{web}" if web else "nginx"
        at = time.time()
        try:
            status, _, decoded = self.topo.api(method, path, body, port=port, timeout=timeout)
        except (OSError, http.client.HTTPException) as exc:
            self.record(kind, target, 0, at, type(exc).__name__)
            return 0, None
        detail = ""
        if status >= 500 and isinstance(decoded, dict):
            detail = str(decoded.get("detail", ""))[:200]
        elif status >= 500:
            detail = (decoded[:200].decode(errors="replace") if isinstance(decoded, bytes) else str(decoded)[:200])
        self.record(kind, target, status, at, detail)
        return status, decoded

    def sql(self, query: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        return self.topo.query(query, params)

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> float | None:
        """Poll until ``predicate()`` is truthy; return the time.time() it was, or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline and not self.abort.is_set():
            try:
                if predicate():
                    return time.time()
            except Exception as exc:  # noqa: BLE001 — the database may be restarting: try again
                last_error = exc
            time.sleep(interval)
        self.problems.append(f"timed out after {timeout:.0f} s waiting for {what}"
                             + (f" (last error: {last_error!r})" if last_error else ""))
        return None

    # -- the workload --------------------------------------------------------------------------------

    def submit_batches(self, batches: queue.Queue[tuple[int, float, list[dict[str, Any]]]]) -> None:
        while not self.abort.is_set():
            try:
                index, due, specs = batches.get_nowait()
            except queue.Empty:
                return
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            attempt = 0
            while not self.abort.is_set():
                attempt += 1
                status, body = self.request("submit", "POST", "/api/tasks/batch", {"tasks": specs})
                if 200 <= status < 300:
                    with self.acked_lock:
                        for spec, task_id in zip(specs, body["ids"], strict=True):
                            self.acked[spec["idempotency_key"]] = task_id
                    break
                if status in (400, 401, 403, 404, 405, 413, 415):
                    self.problems.append(f"batch {index} was refused with {status}: {body}")
                    break
                # 0 (connection error), 429, 502, 503, 504: the same keys again, shortly.
                time.sleep(min(2.0, 0.1 * attempt))
            self.last_submit = time.time()

    def hammer(self, stop: threading.Event, web: int | None, prefix: str) -> None:
        """GET and POST /api/tasks in a loop (through nginx, or on one web instance) until ``stop``."""
        n = 0
        while not stop.is_set() and not self.abort.is_set():
            n += 1
            self.request("hammer-get", "GET", "/api/tasks?page_size=1", web=web, timeout=15)
            key = f"{prefix}-{n}"
            status, body = self.request("hammer-post", "POST", "/api/tasks",
                                        {"type": "noop", "idempotency_key": key}, web=web, timeout=15)
            if 200 <= status < 300:
                with self.acked_lock:
                    self.acked[key] = body["id"]
            time.sleep(0.05)

    # -- the disruptions -----------------------------------------------------------------------------

    def running_of(self, prefix: str) -> int:
        return int(self.sql("SELECT COUNT(*) FROM jobs_task WHERE status = 'running' AND worker LIKE %s",
                            (prefix + "%",))[0][0])

    def follow_up(self, what: str, action: Callable[[], None]) -> None:
        """Run ``action`` (measure a recovery, restart what was killed) beside the timeline."""
        def run() -> None:
            try:
                action()
            except Exception as exc:  # noqa: BLE001 — reported, the run goes on
                self.problems.append(f"{what} failed: {exc!r}")

        thread = threading.Thread(target=run, name=what, daemon=True)
        thread.start()
        self.followers.append(thread)

    def kill_worker(self) -> None:
        i = self.config.victim_worker
        proc = self.topo.worker(i)
        prefix = f"worker{i}:{proc.pid}:"
        # Kill it while it holds work, so that there is something to rescue.
        deadline = time.monotonic() + 15
        held = 0
        while time.monotonic() < deadline and not (held := self.running_of(prefix)):
            time.sleep(0.01)
        at = self.topo.kill_worker(i)
        self.kills.append(f"worker{i} (kill -9 of its process group, pid {proc.pid}, holding {held} running task(s))")
        self.killed_prefixes.append(prefix)
        self.log(f"chaos: killed worker{i} (supervisor pid {proc.pid}) holding {held} running task(s)")
        event: dict[str, Any] = {"event": f"kill -9 worker{i}", "at": at, "held": held}
        self.events.append(event)

        def recover() -> None:
            rescued = self.wait(lambda: self.running_of(prefix) == 0, 120, f"worker{i}'s tasks to be rescued")
            if rescued:
                event["tasks rescued after"] = rescued - at
            dropped = self.wait(lambda: f"worker{i}" not in self.topo.worker_instances(), 120,
                                f"/api/workers to drop worker{i}")
            if dropped:
                event["dropped from /api/workers after"] = dropped - at
            # A process manager (compose's restart: unless-stopped) brings it back.
            self.topo.restart_worker(i)
            event["restarted after"] = time.time() - at
            self.log(f"chaos: worker{i} restarted")

        self.follow_up(f"recovering worker{i}", recover)

    def kill_web(self) -> None:
        i = self.config.victim_web
        proc = self.topo.web(i)
        at = self.topo.kill_web(i)
        self.kills.append(f"web{i} (kill -9, pid {proc.pid})")
        self.log(f"chaos: killed web{i} (pid {proc.pid})")
        event: dict[str, Any] = {"event": f"kill -9 web{i}", "at": at}
        self.events.append(event)

        def restart() -> None:
            time.sleep(3)
            self.topo.restart_web(i)
            event["restarted after"] = time.time() - at
            self.log(f"chaos: web{i} restarted")

        self.follow_up(f"restarting web{i}", restart)

    def restart_database(self) -> None:
        stop = threading.Event()
        hammers = [threading.Thread(target=self.hammer, args=(stop, None, "hammer-nginx"), daemon=True),
                   threading.Thread(target=self.hammer, args=(stop, self.config.direct_web, "hammer-direct"),
                                    daemon=True)]
        for t in hammers:
            t.start()
        time.sleep(1.0)
        self.log("chaos: restarting MariaDB")
        down, up = self.topo.restart_mariadb()
        self.db_window = (down, up)
        self.log(f"chaos: MariaDB back after {up - down:.1f} s")

        def posted_since_up() -> bool:
            with self.calls_lock:
                return any(c.kind == "hammer-post" and 200 <= c.status < 300 and c.at >= up for c in self.calls)

        self.wait(posted_since_up, 60, "an enqueue to succeed after the database restart")
        time.sleep(2.0)
        stop.set()
        for t in hammers:
            t.join(30)
        self.events.append({"event": "restart MariaDB", "at": down, "down for": up - down})

    def stop_redis(self) -> None:
        at = time.time()
        self.topo.stop_redis()
        self.log(f"chaos: Redis stopped for {self.config.redis_down:.0f} s")
        time.sleep(self.config.redis_down)
        self.topo.start_redis()
        back = time.time()
        self.log("chaos: Redis started again")
        self.events.append({"event": "stop Redis", "at": at, "down for": back - at})

    # -- the run -------------------------------------------------------------------------------------

    def run(self) -> Report:
        c = self.config
        began = time.monotonic()
        own = self.topology is None
        if own:
            self.log(f"chaos: starting the topology ({c.webs} web, {c.workers} worker instances)")
            self.topology = Topology(webs=c.webs, workers=c.workers, processes=c.processes, threads=c.threads,
                                     timings=c.timings, tenant="chaos")
            self.topology.__enter__()
        try:
            return self._run(began)
        finally:
            self.abort.set()
            if own and self.topology is not None:
                self.log("chaos: stopping the topology")
                self.topology.stop()

    def _run(self, began: float) -> Report:
        c = self.config
        rng = random.Random(c.seed)  # noqa: S311 — a workload, not a secret
        batches: queue.Queue[tuple[int, float, list[dict[str, Any]]]] = queue.Queue()
        n_batches = (c.tasks + c.batch - 1) // c.batch
        t0 = time.monotonic() + 0.5
        run_id = f"{int(time.time())}"
        for index in range(n_batches):
            size = min(c.batch, c.tasks - index * c.batch)
            specs = [{"type": "sleep", "payload": {"seconds": round(rng.uniform(c.sleep_min, c.sleep_max), 3)},
                      "idempotency_key": f"chaos-{run_id}-{index}-{j}"} for j in range(size)]
            batches.put((index, t0 + index * c.duration / n_batches, specs))
        self.submitted = c.tasks
        self.log(f"chaos: submitting {c.tasks:,} tasks over {c.duration:.0f} s through {self.topo.url}")
        submitters = [threading.Thread(target=self.submit_batches, args=(batches,), daemon=True)
                      for _ in range(c.submitters)]
        for t in submitters:
            t.start()
        timeline: list[tuple[float, Callable[[], None]]] = [
            (0.1, self.kill_worker), (0.3, self.kill_web), (0.5, self.restart_database), (0.7, self.stop_redis),
        ]
        for fraction, action in timeline:
            delay = t0 + fraction * c.duration - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            action()
        for t in [*submitters, *self.followers]:
            t.join()
        submitted_at = time.time()
        self.log(f"chaos: every batch acknowledged ({len(self.acked):,} tasks); waiting for the drain")

        def drained() -> bool:
            (total, unfinished), = self.sql(
                "SELECT COUNT(*), COALESCE(SUM(status NOT IN ('completed', 'failed', 'cancelled')), 0) FROM jobs_task")
            return int(total) >= len(self.acked) and int(unfinished) == 0

        done = self.wait(drained, c.settle_timeout, "every task to finish", interval=1.0)
        # Every worker instance (the restarted one included) is listed again.
        expected = {f"worker{i}" for i in range(1, c.workers + 1)}
        if self.wait(lambda: self.topo.worker_instances() >= expected, 30, "/api/workers to list every instance",
                     interval=0.5) is None:
            self.problems.append(f"/api/workers lists {sorted(self.topo.worker_instances())}, "
                                 f"not every instance of {sorted(expected)}")
        report = self.analyse()
        report.drain_seconds = (done or time.time()) - submitted_at
        report.wall_seconds = time.monotonic() - began
        report.problems = [*self.problems, *report.problems]
        return report

    # -- the verdict ---------------------------------------------------------------------------------

    def analyse(self) -> Report:
        c = self.config
        report = Report(config={k: v for k, v in asdict(c).items() if k != "timings"} | {"timings": c.timings})
        report.submitted = self.submitted + sum(1 for k in self.acked if k.startswith("hammer-"))
        report.acked = len(self.acked)
        report.kills = list(self.kills)
        rows = self.sql("SELECT id, status, idempotency_key, errors, finished_at FROM jobs_task")
        tasks = {int(r[0]): r for r in rows}
        report.tasks_in_db = len(tasks)
        report.statuses = dict(Counter(r[1] for r in rows))
        by_key = {r[2]: int(r[0]) for r in rows if r[2]}
        report.missing_acked = sorted(i for k, i in self.acked.items() if by_key.get(k) != i)
        report.unfinished = sorted(i for i, r in tasks.items() if r[1] not in ("completed", "failed"))
        if report.missing_acked:
            report.problems.append(f"{len(report.missing_acked)} acknowledged task(s) missing: "
                                   f"{report.missing_acked[:20]}")
        if report.unfinished:
            report.problems.append(f"{len(report.unfinished)} task(s) neither completed nor failed: "
                                   f"{[(i, tasks[i][1]) for i in report.unfinished[:20]]}")

        # Executions: one task.started change per claim, in the outbox.
        starts: Counter[int] = Counter()
        for (changes,) in self.sql("SELECT changes FROM jobs_event"):
            for change in json.loads(changes):
                if change.get("event") == "task.started":
                    starts[int(change["task"])] += 1
        report.executions = sum(starts.values())
        held: set[int] = set()
        for task_id, r in tasks.items():
            for entry in json.loads(r[3] or "[]"):
                if entry.get("type") == "WorkerLost" and any(
                        str(entry.get("worker") or "").startswith(p) for p in self.killed_prefixes):
                    held.add(task_id)
        duplicates = {t for t, n in starts.items() if n > 1}
        report.duplicate_tasks = len(duplicates)
        report.duplicate_executions = sum(starts[t] - 1 for t in duplicates)
        report.held_by_killed = len(held)
        report.unexplained_duplicates = sorted(duplicates - held)
        if report.unexplained_duplicates:
            lost = {t: json.loads(tasks[t][3] or "[]") for t in report.unexplained_duplicates[:5] if t in tasks}
            report.problems.append(
                f"{len(report.unexplained_duplicates)} task(s) ran more than once without being held by a killed "
                f"worker: {report.unexplained_duplicates[:20]}; their errors: "
                f"{ {t: [(e.get('type'), e.get('worker'), e.get('message')) for e in es] for t, es in lost.items()} }")
        never = sorted(i for i, r in tasks.items() if r[1] == "completed" and starts[i] == 0)
        if never:
            report.problems.append(f"{len(never)} completed task(s) have no task.started event: {never[:20]}")

        # HTTP: never a 500; 503 while the database is down.
        with self.calls_lock:
            calls = list(self.calls)
        seen: dict[str, Counter[str]] = {}
        for call in calls:
            seen.setdefault(f"{call.kind}@{call.target}", Counter())[str(call.status)] += 1
        report.statuses_seen = {k: dict(v) for k, v in sorted(seen.items())}
        report.server_errors = [asdict(call) for call in calls if call.status == 500]
        report.nginx_errors = nginx_error_kinds(self.topo.nginx_dir / "error.log")
        if report.server_errors:
            report.problems.append(f"{len(report.server_errors)} request(s) answered 500: {report.server_errors[:5]}")
        if self.db_window:
            down, up = self.db_window
            outage: dict[str, Counter[str]] = {}
            for call in calls:
                # Until a few seconds after: each instance's pooled connections fail once more when used.
                if down <= call.at <= up + RECONNECT_SECONDS:
                    outage.setdefault(f"{call.kind}@{call.target}", Counter())[str(call.status)] += 1
            report.db_outage_statuses = {k: dict(v) for k, v in sorted(outage.items())}
            direct = Counter[str]()
            for k, v in outage.items():
                if k.endswith(f"@web{c.direct_web}"):
                    direct.update(v)
            if not direct.get("503"):
                report.problems.append(f"no 503 from web{c.direct_web} while MariaDB was down: {dict(direct)}")
            odd = {s for s in direct if s not in {"503", "0"} and not s.startswith("2")}
            if odd:
                report.problems.append(f"web{c.direct_web} answered {sorted(odd)} while MariaDB was down")

        # Recovery: from the moment a disruption ended (the kill; the server accepting connections again)
        # until tasks complete and an enqueue through nginx succeeds again (and a killed worker's tasks
        # have been rescued, counted from the kill).
        finished = sorted(t for t in (_ts(r[4]) for r in rows) if t is not None)
        ok_calls = sorted(call.at for call in calls if 200 <= call.status < 300 and call.target == "nginx")

        def first_after(values: list[float], moment: float) -> float | None:
            return next((v for v in values if v >= moment), None)

        for event in self.events:
            start = event["at"]
            ended = start + event.get("down for", 0.0)
            completion = first_after(finished, ended)
            accepted = first_after(ok_calls, ended)
            parts = [event.get("tasks rescued after", 0.0)]
            if completion is not None:
                event["next completion after"] = completion - ended
                parts.append(completion - ended)
            if accepted is not None:
                event["next 2xx through nginx after"] = accepted - ended
                parts.append(accepted - ended)
            event["recovered after"] = max(parts)
            if event["recovered after"] > report.longest_recovery:
                report.longest_recovery = event["recovered after"]
                report.longest_recovery_event = event["event"]
            if event["event"] == "restart MariaDB":
                late = [call.at for call in calls if call.target == "nginx" and call.status == 502
                        and ended <= call.at <= ended + 30]
                event["nginx 502s after MariaDB was back"] = len(late)
                if late:
                    event["nginx 502s went on for"] = max(late) - ended
                stale = [call.at for call in calls if call.status == 503 and call.at > ended]
                if stale:
                    event["last 503 after MariaDB was back"] = max(stale) - ended
            if event["event"] == "stop Redis":
                event["completions while Redis was down"] = sum(1 for t in finished if start <= t <= ended)
                event["2xx enqueues while Redis was down"] = sum(1 for t in ok_calls if start <= t <= ended)
        report.events = [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in e.items()} for e in self.events]
        return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Config()
    parser.add_argument("--tasks", type=int, default=d.tasks, help=f"tasks to submit (default {d.tasks:,})")
    parser.add_argument("--batch", type=int, default=d.batch, help=f"tasks per POST /api/tasks/batch ({d.batch})")
    parser.add_argument("--duration", type=float, default=d.duration,
                        help=f"seconds to spread the submissions over ({d.duration:.0f})")
    parser.add_argument("--redis-down", type=float, default=d.redis_down,
                        help=f"seconds Redis stays stopped ({d.redis_down:.0f})")
    parser.add_argument("--lease", type=float, default=float(CHAOS_TIMINGS["JOBS_LEASE_SECONDS"]),
                        help="JOBS_LEASE_SECONDS of the topology (default %(default)s; heartbeats every 1 s); keep it "
                             "longer than a database restart")
    parser.add_argument("--bounded", action="store_true", help="the CI version: 1,500 tasks, Redis down 5 s")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the report to this file")


def config_from(options: dict[str, Any]) -> Config:
    config = Config.bounded() if options.get("bounded") else Config(
        tasks=options["tasks"], batch=options["batch"], duration=options["duration"], redis_down=options["redis_down"])
    if options.get("lease"):
        config.timings["JOBS_LEASE_SECONDS"] = f"{options['lease']:g}"
    return config


def main_with(options: dict[str, Any], write: Callable[[str], None]) -> int:
    report = Chaos(config_from(options), log=write).run()
    write(report.summary())
    if options.get("json_path"):
        Path(options["json_path"]).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chaos on the local topology: nothing may be lost.")
    add_arguments(parser)
    return main_with(vars(parser.parse_args(argv)), lambda text: print(text, flush=True))  # noqa: T201


if __name__ == "__main__":
    sys.exit(main())
