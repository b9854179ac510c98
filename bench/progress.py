"""A small progress bar on stderr: redrawn in place on a terminal, one line per phase otherwise."""

import sys
import time
from types import TracebackType
from typing import Protocol

WIDTH = 30


class Stream(Protocol):
    """Where text goes: a file, or a management command's ``OutputWrapper``."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> None: ...


class Progress:
    """``with Progress("drain engine", total=n) as bar: bar.update(done)``."""

    def __init__(self, label: str, total: int | None = None, *, stream: Stream | None = None,
                 unit: str = "tasks") -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream: Stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.started = time.monotonic()
        self.last_draw = 0.0

    def __enter__(self) -> "Progress":
        self.started = time.monotonic()
        if not self.tty:
            self.stream.write(f"  {self.label} …\n")
            self.stream.flush()
        return self

    def update(self, done: int, *, force: bool = False) -> None:
        self.done = done
        now = time.monotonic()
        if self.tty and (force or now - self.last_draw >= 0.1):
            self.last_draw = now
            self.stream.write("\r" + self._line(now) + "\033[K")
            self.stream.flush()

    def _line(self, now: float) -> str:
        elapsed = now - self.started
        if self.total:
            frac = min(1.0, self.done / self.total)
            filled = int(frac * WIDTH)
            bar = "█" * filled + "·" * (WIDTH - filled)
            rate = self.done / elapsed if elapsed > 0 else 0.0
            return (f"  {self.label:<28} {bar} {self.done:>9,}/{self.total:,} {self.unit} "
                    f"{elapsed:6.1f}s {rate:9,.0f}/s")
        return f"  {self.label:<28} {self.done:>9,} {self.unit} {elapsed:6.1f}s"

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        now = time.monotonic()
        status = "" if exc_type is None else "  (interrupted)"
        if self.tty:
            self.stream.write("\r" + self._line(now) + status + "\033[K\n")
        else:
            self.stream.write(f"  {self.label}: {self.done:,}"
                              f"{'/' + format(self.total, ',') if self.total else ''} {self.unit} "
                              f"in {now - self.started:.1f}s{status}\n")
        self.stream.flush()
