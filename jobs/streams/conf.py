"""The live streams' tunables: one typed section of the configuration (``jobs.conf``).

Keys are prefixed ``SSE_`` because ``JOBS`` is one namespace shared with the engine (which
has its own ``POLL_SECONDS``). Values are checked by ``jobs.E004``.
"""

from dataclasses import dataclass

from ..conf import Section, current


@dataclass(frozen=True, slots=True)
class StreamsConf(Section):
    positive = ("SSE_POLL_SECONDS", "SSE_GAP_SECONDS", "SSE_BATCH", "SSE_MAX_GAP_SPAN", "SSE_GAP_RANGES",
                "SSE_QUEUE_LIMIT", "SSE_FEED_SIZE", "SSE_MAX_STREAMS_PER_KEY", "SSE_MAX_STREAMS_PER_TENANT",
                "SSE_MAX_REPLAY_EVENTS", "SSE_MAX_BUFFER_BYTES", "SSE_REVERIFY_SECONDS")

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
    #: Bytes a stream may write while its connection's send buffer is full (the client stopped
    #: reading) before it is dropped: the bound on what a slow client makes the server hold.
    SSE_MAX_BUFFER_BYTES: int = 4 * 1024 * 1024
    #: Seconds between checks that an open stream's caller may still read it (API key, console login).
    SSE_REVERIFY_SECONDS: float = 5.0

    # -- the API stream (jobs/api/stream.py)
    #: Open API streams per key, and per tenant, across every web instance (429 beyond).
    SSE_MAX_STREAMS_PER_KEY: int = 5
    SSE_MAX_STREAMS_PER_TENANT: int = 20
    #: A Last-Event-ID more than this many event ids behind gets a ``reset`` instead of a replay.
    SSE_MAX_REPLAY_EVENTS: int = 1000

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

    @property
    def lease_seconds(self) -> float:
        """How long a stream's slot outlives its last heartbeat (a killed instance's streams expire then)."""
        return 3 * self.heartbeat_seconds


def streams_conf() -> StreamsConf:
    """Return the streams' configuration (cached until a setting changes)."""
    return current(StreamsConf)
