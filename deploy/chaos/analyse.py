"""The verdict of a chaos run: what the database, the outbox and the recorded requests say."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .config import RECONNECT_SECONDS
from .report import Report, nginx_error_kinds
from .traffic import Call

if TYPE_CHECKING:
    from .run import Chaos

Row = tuple[Any, ...]


def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def analyse(chaos: Chaos) -> Report:
    """Check that nothing was lost, count the executions, the statuses and the recoveries."""
    c = chaos.config
    acked = chaos.traffic.acked
    report = Report(config={k: v for k, v in asdict(c).items() if k != "timings"} | {"timings": c.timings})
    report.submitted = chaos.submitted + sum(1 for k in acked if k.startswith("hammer-"))
    report.acked = len(acked)
    report.kills = list(chaos.kills)
    rows = chaos.sql("SELECT id, status, idempotency_key, errors, finished_at FROM jobs_task")
    tasks = {int(r[0]): r for r in rows}
    _tasks(report, tasks, acked)
    _executions(report, tasks, chaos.sql("SELECT changes FROM jobs_event"), chaos.killed_prefixes)
    calls = chaos.traffic.snapshot()
    _http(report, calls, chaos.db_window, c.direct_web)
    report.nginx_errors = nginx_error_kinds(chaos.topo.nginx_dir / "error.log")
    _recovery(report, chaos.events, rows, calls)
    return report


def _tasks(report: Report, tasks: dict[int, Row], acked: dict[str, int]) -> None:
    """Every acknowledged task exists, and every task finished."""
    report.tasks_in_db = len(tasks)
    report.statuses = dict(Counter(r[1] for r in tasks.values()))
    by_key = {r[2]: i for i, r in tasks.items() if r[2]}
    report.missing_acked = sorted(i for k, i in acked.items() if by_key.get(k) != i)
    report.unfinished = sorted(i for i, r in tasks.items() if r[1] not in ("completed", "failed"))
    if report.missing_acked:
        report.problems.append(f"{len(report.missing_acked)} acknowledged task(s) missing: "
                               f"{report.missing_acked[:20]}")
    if report.unfinished:
        report.problems.append(f"{len(report.unfinished)} task(s) neither completed nor failed: "
                               f"{[(i, tasks[i][1]) for i in report.unfinished[:20]]}")


def _executions(report: Report, tasks: dict[int, Row], events: list[Row], killed_prefixes: list[str]) -> None:
    """Only tasks a killed worker held ran more than once (one task.started change per claim, in the outbox)."""
    starts: Counter[int] = Counter()
    claimant: dict[int, str] = {}
    held: set[int] = set()
    for (changes,) in events:
        for change in json.loads(changes):
            task_id = int(change["task"])
            if change.get("event") == "task.started":
                starts[task_id] += 1
                claimant[task_id] = str(change.get("worker") or "")
            elif change.get("event") in ("task.rescued", "task.failed") and any(
                    claimant.get(task_id, "").startswith(p) for p in killed_prefixes):
                # That claim died with a killed worker: rescued, started or not (a prefetched
                # run comes back uncharged, with no WorkerLost entry).
                held.add(task_id)
    report.executions = sum(starts.values())
    for task_id, r in tasks.items():
        for entry in json.loads(r[3] or "[]"):
            if entry.get("type") == "WorkerLost" and any(
                    str(entry.get("worker") or "").startswith(p) for p in killed_prefixes):
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


def _http(report: Report, calls: list[Call], db_window: tuple[float, float] | None, direct_web: int) -> None:
    """Never a 500; 503 while the database is down."""
    seen: dict[str, Counter[str]] = {}
    for call in calls:
        seen.setdefault(f"{call.kind}@{call.target}", Counter())[str(call.status)] += 1
    report.statuses_seen = {k: dict(v) for k, v in sorted(seen.items())}
    report.server_errors = [asdict(call) for call in calls if call.status == 500]
    if report.server_errors:
        report.problems.append(f"{len(report.server_errors)} request(s) answered 500: {report.server_errors[:5]}")
    if not db_window:
        return
    down, up = db_window
    outage: dict[str, Counter[str]] = {}
    for call in calls:
        # Until a few seconds after: each instance's pooled connections fail once more when used.
        if down <= call.at <= up + RECONNECT_SECONDS:
            outage.setdefault(f"{call.kind}@{call.target}", Counter())[str(call.status)] += 1
    report.db_outage_statuses = {k: dict(v) for k, v in sorted(outage.items())}
    direct = Counter[str]()
    for k, v in outage.items():
        if k.endswith(f"@web{direct_web}"):
            direct.update(v)
    if not direct.get("503"):
        report.problems.append(f"no 503 from web{direct_web} while MariaDB was down: {dict(direct)}")
    odd = {s for s in direct if s not in {"503", "0"} and not s.startswith("2")}
    if odd:
        report.problems.append(f"web{direct_web} answered {sorted(odd)} while MariaDB was down")


def _recovery(report: Report, events: list[dict[str, Any]], rows: list[Row], calls: list[Call]) -> None:
    """From the moment a disruption ended (the kill; the server accepting connections again) until tasks
    complete and an enqueue through nginx succeeds again (and a killed worker's tasks have been rescued,
    counted from the kill)."""
    finished = sorted(t for t in (_ts(r[4]) for r in rows) if t is not None)
    ok_calls = sorted(call.at for call in calls if 200 <= call.status < 300 and call.target == "nginx")

    def first_after(values: list[float], moment: float) -> float | None:
        return next((v for v in values if v >= moment), None)

    for event in events:
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
    report.events = [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in e.items()} for e in events]
