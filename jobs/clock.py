"""The database's clock, for every time that another host compares (leases, heartbeats, run_at).

Hosts' clocks drift and jump; the database is the one clock every process shares. ``now()``
is this host's UTC time corrected by the offset last measured against the database
(``sync()``), so reading it costs no query. Workers sync at start and on every heartbeat;
other processes call ``refresh()``, which syncs at most once per ``REFRESH_SECONDS``.

Filters use ``now()`` too, never the ``Now()`` database function: on MySQL/MariaDB that is
``CURRENT_TIMESTAMP``, in the session's time zone, which Django does not set to UTC.
"""

import time
from datetime import UTC, datetime, timedelta

from django.db import DEFAULT_DB_ALIAS, connections

#: A skew beyond this many seconds is logged (workers) and highlighted (the console).
WARN_SECONDS = 2.0
#: Outside workers, the longest an offset is trusted before ``refresh()`` measures it again.
REFRESH_SECONDS = 60.0

#: The database's UTC time now, as each vendor says it (both UTC whatever the session's zone).
QUERIES = {
    "mysql": "SELECT UTC_TIMESTAMP(6)",
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
}

#: This host's clock minus the database's, seconds (None: never measured in this process).
_skew: float | None = None
#: ``time.monotonic()`` of the last measurement.
_synced_at = 0.0


def now() -> datetime:
    """The database's current time (UTC, aware), from this host's clock and the last offset."""
    return datetime.now(UTC) - timedelta(seconds=_skew or 0.0)


def iso(moment: datetime) -> str:
    """A date-time as every API answer writes it: ISO 8601 in UTC, ``Z`` for the offset."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def skew() -> float | None:
    """This host's clock minus the database's, seconds, as last measured (None before any ``sync()``)."""
    return _skew


def _as_utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def measure(using: str = DEFAULT_DB_ALIAS) -> float:
    """Ask the database for its time once; return this host's clock minus it, seconds."""
    connection = connections[using]
    query = QUERIES.get(connection.vendor)
    if query is None:
        return 0.0  # a backend the engine does not support: trust the host's clock
    with connection.cursor() as cursor:  # opens the connection first: the connect is not timed
        sent = time.monotonic()
        host = datetime.now(UTC)
        cursor.execute(query)
        row = cursor.fetchone()
        half_trip = (time.monotonic() - sent) / 2
    # The database read its clock about half way through the round trip.
    return (host + timedelta(seconds=half_trip) - _as_utc(row[0])).total_seconds()


def sync(using: str = DEFAULT_DB_ALIAS) -> float:
    """Measure the offset to the database's clock (one query) and use it from now on; return it."""
    global _skew, _synced_at
    offset = measure(using)
    _skew, _synced_at = offset, time.monotonic()
    return offset


def refresh(max_age: float = REFRESH_SECONDS) -> None:
    """``sync()`` if the offset was never measured or is older than ``max_age`` seconds."""
    if _skew is None or time.monotonic() - _synced_at > max_age:
        sync()
