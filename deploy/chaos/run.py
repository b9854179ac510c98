"""``Chaos``: the topology, the workload, the four disruptions on a timeline, then the verdict."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from jobs.lifecycle import FINISHED

from ..topology import Topology, TopologyError
from .analyse import analyse
from .config import Config
from .report import Report
from .traffic import Batch, Traffic


class Chaos:
    """One run: ``Chaos(config).run()`` starts a topology of its own (unless given one) and returns the Report."""

    def __init__(self, config: Config | None = None, *, log: Callable[[str], None] | None = None,
                 topology: Topology | None = None) -> None:
        self.config = config or Config()
        self.log = log or (lambda text: print(text, flush=True))  # noqa: T201
        self.topology = topology
        self.submitted = 0
        self.events: list[dict[str, Any]] = []
        self.kills: list[str] = []
        self.killed_prefixes: list[str] = []
        self.db_window: tuple[float, float] | None = None
        self.abort = threading.Event()
        self.problems: list[str] = []
        self.traffic = Traffic(lambda: self.topo, abort=self.abort, problems=self.problems)
        self.followers: list[threading.Thread] = []

    # -- plumbing ------------------------------------------------------------------------------------

    @property
    def topo(self) -> Topology:
        if self.topology is None:
            raise TopologyError("no topology")
        return self.topology

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
        hammers = [threading.Thread(target=self.traffic.hammer, args=(stop, None, "hammer-nginx"), daemon=True),
                   threading.Thread(target=self.traffic.hammer, args=(stop, self.config.direct_web, "hammer-direct"),
                                    daemon=True)]
        for t in hammers:
            t.start()
        time.sleep(1.0)
        self.log("chaos: restarting MariaDB")
        down, up = self.topo.restart_mariadb()
        self.db_window = (down, up)
        self.log(f"chaos: MariaDB back after {up - down:.1f} s")

        self.wait(lambda: self.traffic.posted_since(up), 60, "an enqueue to succeed after the database restart")
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
        batches: queue.Queue[Batch] = queue.Queue()
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
        submitters = [threading.Thread(target=self.traffic.submit_batches, args=(batches,), daemon=True)
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
        self.log(f"chaos: every batch acknowledged ({len(self.traffic.acked):,} tasks); waiting for the drain")

        def drained() -> bool:
            (total, unfinished), = self.sql("SELECT COUNT(*), COALESCE(SUM(status NOT IN (%s, %s, %s)), 0) "
                                            "FROM jobs_task", tuple(s.value for s in FINISHED))
            return int(total) >= len(self.traffic.acked) and int(unfinished) == 0

        done = self.wait(drained, c.settle_timeout, "every task to finish", interval=1.0)
        # Every worker instance (the restarted one included) is listed again.
        expected = {f"worker{i}" for i in range(1, c.workers + 1)}
        if self.wait(lambda: self.topo.worker_instances() >= expected, 30, "/api/workers to list every instance",
                     interval=0.5) is None:
            self.problems.append(f"/api/workers lists {sorted(self.topo.worker_instances())}, "
                                 f"not every instance of {sorted(expected)}")
        report = analyse(self)
        report.drain_seconds = (done or time.time()) - submitted_at
        report.wall_seconds = time.monotonic() - began
        report.problems = [*self.problems, *report.problems]
        return report

    # -- the verdict ---------------------------------------------------------------------------------
