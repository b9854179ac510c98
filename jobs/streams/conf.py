"""The live streams' tunables: one typed section of the configuration (``jobs.conf``).

Keys are prefixed ``SSE_`` because ``JOBS`` is one namespace shared with the engine (which
has its own ``POLL_SECONDS``). Values are checked by ``jobs.E004``.
"""

from dataclasses import dataclass

from ..conf import Section, current


@dataclass(frozen=True, slots=True)
class StreamsConf(Section):
    positive = ("SSE_POLL_SECONDS", "SSE_GAP_SECONDS", "SSE_BATCH", "SSE_MAX_GAP_SPAN", "SSE_GAP_RANGES",
                "SSE_QUEUE_LIMIT", "SSE_FEED_SIZE")

    # -- the hub (jobs/streams/hub.py) and its watermark
    #: Poll interval of the hub while someone is subscribed, seconds.
    SSE_POLL_SECONDS: float = 0.25
    #: How long a missing id is waited for, seconds: the longest a transaction that writes the outbox
    #: (an enqueue inside the caller's transaction) may stay open and still be streamed. Past it the
    #: id is given up and every stream that may have missed it gets a ``reset``.
    SSE_GAP_SECONDS: float = 300.0
    #: Rows read per query (the live poll and each replay batch).
    SSE_BATCH: int = 1000
    #: Missing ids more than this far below the newest are given up (with a ``reset``): the bound
    #: on the ids one poll's ranges may span, and on the watermark's memory.
    SSE_MAX_GAP_SPAN: int = 100_000
    #: The poll asks for every missing id as at most this many id ranges (nearby ones merged).
    SSE_GAP_RANGES: int = 1000
    #: Rows queued for one API client before it falls back to a replay from the database.
    SSE_QUEUE_LIMIT: int = 10_000

    # -- every stream (jobs/streams/sse.py)
    #: Seconds between ": heartbeat" comments on the live streams.
    SSE_HEARTBEAT_SECONDS: float = 15.0
    #: EventSource's reconnect delay, milliseconds (sent once per connection).
    SSE_RETRY_MS: int = 2000

    # -- the API stream (jobs/api/stream.py)
    #: Seconds between checks that an open API stream's key is still valid.
    SSE_REVERIFY_SECONDS: float = 60.0

    # -- the console stream (dashboard/stream.py): each panel at most this often, whatever the task rate
    #: Counters at most this often when something changed…
    SSE_COUNTERS_SECONDS: float = 1.0
    #: …and at least this often regardless.
    SSE_COUNTERS_IDLE_SECONDS: float = 5.0
    SSE_FEED_SECONDS: float = 1.0
    SSE_WORKERS_SECONDS: float = 2.0
    SSE_CHART_SECONDS: float = 10.0
    #: Changes kept for the next feed message (the latest; older ones are coalesced away).
    SSE_FEED_SIZE: int = 20
    #: How long a rendered console snapshot is reused across this process's streams, seconds.
    SSE_SHARED_SECONDS: float = 0.5

    @property
    def heartbeat_seconds(self) -> float:
        """The heartbeat interval, never below 50 ms (a zero would spin)."""
        return max(0.05, self.SSE_HEARTBEAT_SECONDS)


def streams_conf() -> StreamsConf:
    """Return the streams' configuration (cached until a setting changes)."""
    return current(StreamsConf)
