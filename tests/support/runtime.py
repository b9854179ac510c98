"""Run a worker process's runtime inside the test process, on a thread."""

import threading
from typing import Any

from jobs.worker.options import WorkerOptions
from jobs.worker.runtime import WorkerRuntime


class InProcessWorker:
    def __init__(self) -> None:
        self.runtime: WorkerRuntime | None = None
        self.thread: threading.Thread | None = None
        self.exit_code: int | None = None

    def start(self, **options: Any) -> WorkerRuntime:
        runtime = WorkerRuntime(options=WorkerOptions(**options))

        def run() -> None:
            self.exit_code = runtime.run()

        self.runtime = runtime
        self.thread = threading.Thread(target=run, name="test-worker", daemon=True)
        self.thread.start()
        return runtime

    def burst(self, timeout: float = 60, **options: Any) -> WorkerRuntime:
        runtime = self.start(burst=True, **options)
        self.join(timeout)
        return runtime

    def join(self, timeout: float = 60) -> None:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker runtime did not finish in time"

    def stop(self, timeout: float = 60) -> None:
        if self.runtime is not None and self.thread is not None and self.thread.is_alive():
            self.runtime.stop()
            self.join(timeout)
