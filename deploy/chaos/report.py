"""What a chaos run found: the figures, and the problems that fail it."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import RECONNECT_SECONDS


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
