"""Peak resident memory of the systems under test, sampled while they run."""

import subprocess
from typing import Any

import psutil


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), MiB; ``None`` once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _role(proc: psutil.Process, root_pid: int) -> str | None:
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return None
    if "resource_tracker" in cmd or "forkserver" in cmd:
        return None  # multiprocessing's helpers, not workers
    return "parent" if proc.pid == root_pid else "child"


class MemoryWatch:
    """Peak RSS of process trees, sampled while they run (a process's own VmHWM is exact)."""

    def __init__(self) -> None:
        self.peaks: dict[int, tuple[str, float]] = {}

    def sample(self, roots: list[subprocess.Popen[bytes]], *, solo: bool = False) -> None:
        for root in roots:
            try:
                tree = psutil.Process(root.pid)
                procs = [tree, *tree.children(recursive=True)]
            except psutil.Error:
                continue
            for proc in procs:
                role = _role(proc, root.pid)
                peak = peak_rss_mb(proc.pid)
                if role is None or peak is None:
                    continue
                if solo:
                    role = "child"  # a process that is itself the worker (db_worker, a web process)
                old = self.peaks.get(proc.pid)
                if old is None or peak > old[1]:
                    self.peaks[proc.pid] = (role, peak)

    def summary(self) -> dict[str, Any]:
        children = [mb for role, mb in self.peaks.values() if role == "child"]
        parents = [mb for role, mb in self.peaks.values() if role == "parent"]
        return {
            "worker_processes": len(children),
            "worker_peak_rss_mb": round(max(children), 1) if children else None,
            "parent_peak_rss_mb": round(max(parents), 1) if parents else None,
        }
