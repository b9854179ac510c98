"""A worker's own start-up, read from the ``startup:`` line each worker process logs at its first claim.

The line (docs/OPERATIONS.md, "Start-up time") counts from the supervisor's start as the kernel
recorded it: ``ready_ms`` is Python plus Django set-up, ``first_claim_ms`` the first claim round.
The worker's own part, the figure of the "< 0.3 s" target, is the difference; the whole
process start (interpreter and Django included) is reported beside it.
"""

import re
from pathlib import Path
from typing import Any

LINE = re.compile(r"startup: ready_ms=(\d+) fork_ms=(\d+) first_claim_ms=(\d+) tasks=(\d+)")


def worker_startup(log: Path | None) -> dict[str, Any] | None:
    """The earliest first claim among a supervisor's processes, from its log; None without one."""
    if log is None or not log.exists():
        return None
    rows = [tuple(int(g) for g in m.groups()) for m in LINE.finditer(log.read_text(errors="replace"))]
    if not rows:
        return None
    ready, fork, claim, _ = min(rows, key=lambda r: r[2])
    return {"processes": len(rows), "ready_s": ready / 1000, "fork_s": fork / 1000,
            "first_claim_s": claim / 1000, "own_s": (claim - ready) / 1000}
