"""Reading the outbox in id order although ids do not become visible in order.

Auto-increment ids do not become visible in order: id 11 may commit before id 10, and 10
may never commit (its transaction rolled back). ``Watermark`` therefore tracks

* ``top``: the highest id seen;
* ``gaps``: ids below ``top`` not seen yet. Every poll asks for all of them, as at most
  ``SSE_GAP_RANGES`` id ranges, for up to ``SSE_GAP_SECONDS`` (as long as a transaction
  may stay open); an id then still missing, or one more than ``SSE_MAX_GAP_SPAN`` below
  ``top``, is *given up* — and the hub resets every stream that may have missed it;
* ``low``: the highest id W such that every id ≤ W has been seen or given up;
* ``horizon``: the highest id given up (or, at start-up, not tracked).

``low`` is what the streams send as the SSE ``id:``: a client that reconnects with
``Last-Event-ID: W`` is replayed every row with an id above W (a row may arrive twice —
clients dedupe by ``seq``, the row id — but none is skipped without a ``reset``). See
``feed.Feed`` for how a reconnect's replay joins the live feed without a hole between them.
"""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .conf import streams_conf
from .reset import Reason


@dataclass(frozen=True, slots=True)
class GivenUp:
    """Ids no longer waited for (ascending), and why."""

    reason: Reason
    ids: Sequence[int]


class Watermark:
    """Which ids have been seen, which are awaited (gaps) and up to where nothing can be missing.

    ``gaps`` (id → when first missed) is kept in ascending id order with non-decreasing
    times, so ``low`` and every give-up read its first entries: O(1) per row, whatever
    the number of gaps.
    """

    def __init__(self, top: int, *, gaps: Iterable[int] = (), ages: Mapping[int, float] | None = None,
                 floor: int = 0, gap_seconds: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        conf = streams_conf()
        self.top = top
        self.gap_seconds = conf.SSE_GAP_SECONDS if gap_seconds is None else gap_seconds
        self.max_span = conf.SSE_MAX_GAP_SPAN
        self.max_ranges = conf.SSE_GAP_RANGES
        self.clock = clock
        self.horizon = floor
        #: Ids given up since the hub started polling (not counting those past waiting at start).
        self.given_up = 0
        self.gaps: OrderedDict[int, float] = OrderedDict()
        self._pending: list[GivenUp] = []
        self._ranges: list[tuple[int, int]] | None = None
        now = clock()
        since = -float("inf")
        for i in sorted(g for g in gaps if floor < g < top):
            # The oldest first, and never younger than an id below it: the order expire() relies on.
            since = max(since, now - max(0.0, (ages or {}).get(i, 0.0)))
            self.gaps[i] = since
        # Past waiting already at start: nobody was subscribed, so nothing to announce.
        self._expire(now, Reason.GAP_TIMEOUT)
        self._trim()
        self._pending.clear()
        self.given_up = 0

    @property
    def low(self) -> int:
        return next(iter(self.gaps)) - 1 if self.gaps else self.top

    def wanted(self) -> tuple[int, list[tuple[int, int]]]:
        """What the next poll asks for: ids above ``top``, and closed ranges covering every gap."""
        if self._ranges is None:
            self._ranges = covering_ranges(self.gaps, self.max_ranges)
        return self.top, self._ranges

    def accept(self, row_id: int) -> bool:
        """Record that ``row_id`` was read; True if it is new (to be delivered), False if already seen.

        A jump may give up ids (more than ``max_span`` below the new top): see ``pending``, ``take()``.
        """
        if row_id > self.top:
            missing_from = max(self.top + 1, row_id - self.max_span)
            if missing_from > self.top + 1:
                self._give_up(Reason.GAP_SPAN, range(self.top + 1, missing_from))
            now = self.clock()
            for missing in range(missing_from, row_id):
                self.gaps[missing] = now
            self.top = row_id
            self._trim()
            self._ranges = None
            return True
        if self.gaps.pop(row_id, None) is None:
            return False
        self._ranges = None
        return True

    @property
    def pending(self) -> bool:
        """Whether ids were given up since the last ``take()`` (by a jump: see ``accept``)."""
        return bool(self._pending)

    def take(self) -> list[GivenUp]:
        """Everything given up since the last ``take()`` or ``expire()``."""
        out, self._pending = self._pending, []
        return out

    def expire(self) -> list[GivenUp]:
        """Give up the gaps awaited longer than ``gap_seconds``; return everything given up since the last call."""
        self._expire(self.clock(), Reason.GAP_TIMEOUT)
        return self.take()

    def _expire(self, now: float, reason: Reason) -> None:
        deadline = now - self.gap_seconds
        expired = []
        while self.gaps:
            first, since = next(iter(self.gaps.items()))
            if since > deadline:
                break
            self.gaps.popitem(last=False)
            expired.append(first)
        if expired:
            self._give_up(reason, expired)

    def _trim(self) -> None:
        """Give up the gaps more than ``max_span`` below ``top``: a poll could not afford their ranges."""
        beyond = []
        while self.gaps and next(iter(self.gaps)) < self.top - self.max_span:
            beyond.append(self.gaps.popitem(last=False)[0])
        if beyond:
            self._give_up(Reason.GAP_SPAN, beyond)

    def _give_up(self, reason: Reason, ids: Sequence[int]) -> None:
        self._pending.append(GivenUp(reason, ids))
        self.given_up += len(ids)
        self.horizon = max(self.horizon, ids[-1])
        self._ranges = None


def covering_ranges(ids: Iterable[int], limit: int) -> list[tuple[int, int]]:
    """At most ``limit`` closed ranges covering the ascending ``ids``, reading as few other ids as possible.

    Runs of consecutive ids make one range each; when there are more runs than ``limit``,
    the runs closest to each other are merged (a poll then reads again, and skips, the rows
    already seen between them) — no id is ever left out.
    """
    runs: list[list[int]] = []
    for i in ids:
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    if len(runs) <= limit:
        return [(a, b) for a, b in runs]
    # Cut at the limit - 1 widest separations; merge across every other one.
    widest = heapq.nlargest(limit - 1, range(len(runs) - 1), key=lambda k: runs[k + 1][0] - runs[k][1])
    out, start = [], 0
    for k in sorted(widest):
        out.append((runs[start][0], runs[k][1]))
        start = k + 1
    out.append((runs[start][0], runs[-1][1]))
    return out
