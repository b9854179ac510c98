"""The limiter without Redis: the Redis script's sliding log, in this process's memory.

The limit is then per process. One lock guards every key; state of idle keys is swept.
"""

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from ..conf import conf
from .decision import Decision, new_token


@dataclass
class Window:
    """One key's sliding log in this process: charges in time order plus the live ones by token."""

    window: float
    log: deque[tuple[float, str]] = field(default_factory=deque)
    live: dict[str, int] = field(default_factory=dict)  # token -> cost; refunded tokens are absent
    total: int = 0

    def trim(self, now: float) -> None:
        """Forget charges that left the window (refunded ones are skipped lazily)."""
        horizon = now - self.window
        while self.log and self.log[0][0] <= horizon:
            _, token = self.log.popleft()
            self.total -= self.live.pop(token, 0)


class MemoryLimiter:
    """Every key's window in this process."""

    def __init__(self) -> None:
        self.windows: dict[str, Window] = {}
        self.lock = threading.Lock()
        self.last_sweep = 0.0

    def acquire(self, key: str, cost: int, limit: int, window: float) -> Decision:
        """The Redis script's algorithm, under one lock."""
        with self.lock:
            now = time.monotonic()
            if now - self.last_sweep > conf().RATE_LIMIT_SWEEP_SECONDS:
                self._sweep(now)
            state = self.windows.get(key)
            if state is None:
                state = self.windows[key] = Window(window)
            # A changed window applies from now on, as in Redis.
            state.window = window
            state.trim(now)
            token: str | None = None
            allowed = cost <= limit and state.total + cost <= limit
            retry = 0.0
            if allowed:
                if cost > 0:
                    token = new_token(cost)
                    state.log.append((now, token))
                    state.live[token] = cost
                    state.total += cost
            elif cost > limit:
                retry = float(window)
            else:
                need, acc, retry = state.total + cost - limit, 0, float(window)
                for at, tok in state.log:
                    acc += state.live.get(tok, 0)
                    if acc >= need:
                        retry = min(float(window), at + window - now)
                        break
            newest = next((at for at, tok in reversed(state.log) if tok in state.live), None)
            # Clamped: (now + window) - now can round to just above the window (61 s of 60 once ceiled).
            reset = 0.0 if newest is None else min(float(window), newest + window - now)
            if not state.live:
                del self.windows[key]
            if allowed:
                return Decision(
                    allowed=True, limit=limit, remaining=max(0, limit - state.total), reset=reset, retry_after=0.0,
                    token=token,
                )
            # What is left, not 0: a smaller request may still fit (and "0 left" beside an empty window misleads).
            return Decision(allowed=False, limit=limit, remaining=max(0, limit - state.total), reset=reset,
                            retry_after=retry, token=None)

    def _sweep(self, now: float) -> None:
        # Keys of idle tenants would otherwise stay forever.
        self.last_sweep = now
        for name, w in list(self.windows.items()):
            w.trim(now)
            if not w.live:
                del self.windows[name]

    def refund(self, key: str, token: str) -> None:
        """Give a charge back."""
        with self.lock:
            state = self.windows.get(key)
            if state is None:
                return
            # Its log entry stays and is skipped when it expires.
            state.total -= state.live.pop(token, 0)
            if not state.live:
                del self.windows[key]

    def reset(self) -> None:
        """Forget every window."""
        with self.lock:
            self.windows.clear()
            self.last_sweep = 0.0


limiter = MemoryLimiter()
