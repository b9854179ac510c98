"""``reset``: what a stream sends instead of skipping rows silently (docs/API.md, "Live events").

A client that receives it may have missed changes: it reloads what it shows from the API
and carries on with the events that follow, which are live from the reset's ``id:``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why a stream was reset."""

    #: An id stayed missing for ``SSE_GAP_SECONDS``: its transaction rolled back, or is still open.
    GAP_TIMEOUT = "gap_timeout"
    #: More ids were in flight than the hub tracks (``SSE_MAX_GAP_SPAN`` below the newest).
    GAP_SPAN = "gap_span"
    #: The Last-Event-ID is older than the oldest event kept (``EVENT_RETENTION_SECONDS``).
    RETENTION = "retention"
    #: Between the Last-Event-ID and now, an id is missing that this process could not wait for.
    UNVERIFIED = "unverified"
    #: The Last-Event-ID is more than ``SSE_MAX_REPLAY_EVENTS`` behind: reloading costs less than replaying.
    TOO_FAR_BEHIND = "too_far_behind"
    #: The Last-Event-ID is beyond the newest event: not this outbox's (a restore, a reset database, another
    #: deployment). Without the reset the stream would wait, silent, for ids that come only much later.
    AHEAD = "ahead"


DETAILS = {
    Reason.GAP_TIMEOUT: "An event id stayed uncommitted longer than the stream waits; its changes, "
                        "if they commit, will not be streamed.",
    Reason.GAP_SPAN: "More events were in flight at once than the stream can track.",
    Reason.RETENTION: "Last-Event-ID is older than the oldest event kept; the missed events were pruned.",
    Reason.UNVERIFIED: "Some events between Last-Event-ID and now could not be verified as delivered.",
    Reason.TOO_FAR_BEHIND: "Last-Event-ID is further behind than the stream replays; reload instead.",
    Reason.AHEAD: "Last-Event-ID is beyond the newest event; it is not one of this server's ids.",
}


@dataclass(frozen=True, slots=True)
class Reset:
    """A reset owed to one client: why, and the ``id:`` to send with it (live from there)."""

    reason: Reason
    id: int

    def data(self, resync: str) -> str:
        """The message's JSON: the reason, a sentence, and where to reload from."""
        return json.dumps({"reason": self.reason.value, "detail": DETAILS[self.reason], "resync": resync})
