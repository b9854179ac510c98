"""Write outcomes so that no row can wedge the writer.

Outcomes are written in chunks bounded in rows and in bytes: a MySQL server hangs up on a
statement over its ``max_allowed_packet`` ("gone away", which cannot be told from a lost
connection), so no UPDATE may come near it. When the database refuses a chunk because of
what is in it (a trigger, a value a column or a JSON check rejects) the chunk is bisected
until the rows it will take have landed; each row it still refuses is
recorded as a minimal failure (``UnwritableOutcome``) and, when even that is refused,
skipped and logged: its lease lapses and the rescue deals with it. An error about the
connection, a lock or the server propagates, and the caller retries the whole chunk later.
"""

import json
import logging
from collections.abc import Iterable, Iterator
from functools import cache

from django.db import DataError, IntegrityError, connection
from django.db.models import JSONField, Q
from django.db.utils import DatabaseError

from .. import clock
from ..exceptions import UnwritableOutcome
from ..lifecycle import Status
from ..models import Task
from ..shapes import ErrorEntry, error_entries
from . import finish
from .finish import Outcome

logger = logging.getLogger(__name__)

#: Bytes counted per row besides its JSON values (its id, timestamps, CASE arms).
ROW_OVERHEAD = 200

# MySQL/MariaDB report thousands of server codes and the ones about the data are scattered
# (1264, 1292, 1366, 1406, 1644 for a trigger's SIGNAL, 3140, 4025 …), while the ones that
# say nothing about the rows are a short known list: these. They, every client-side code
# (2000-2999: 2006 "gone away", 2013 "lost connection"…) and a connection that no longer
# answers propagate; any other server error is taken to be about the rows. Mistaking a
# transient error for a data error costs a few rows their outcome (dead-lettered as
# UnwritableOutcome, or skipped and rescued); the opposite mistake wedges the writer forever.
MYSQL_NOT_DATA = frozenset({
    1021, 1030, 1036, 1114, 1206,  # disk full, storage engine error, read-only table, table full, lock table full
    1037, 1038, 1041,  # out of memory
    1040, 1043, 1044, 1045, 1142, 1143,  # too many connections, handshake, access denied
    1047, 1105,  # unknown command (a Galera node not ready), unknown error
    1053, 1152, 1154, 1155, 1156, 1157, 1158, 1159, 1160, 1161, 1927, 4031,  # shutdown, network, killed
    1054, 1064, 1146,  # unknown column, syntax, no such table: the schema or the code, not a row
    1180, 1181, 1205, 1213, 1305, 1614, 1637,  # commit/rollback failed, lock wait, deadlock, savepoint gone
    1290, 1792, 1836,  # read-only server (a fail-over in progress)
    1317, 1969, 3024,  # query interrupted, statement timeouts
})
#: The client library refused to send a statement over its ``max_allowed_packet``: about the data.
MYSQL_CLIENT_PACKET_TOO_LARGE = 2020

# SQLite's primary result codes are few and precise, so the ones about the data are listed
# instead: BUSY ("database is locked"), IOERR, FULL, READONLY… and SQLITE_ERROR ("no such
# column", a schema not migrated yet) all propagate.
SQLITE_DATA = frozenset({18, 19, 20, 25})  # TOOBIG, CONSTRAINT (CHECK, NOT NULL, a trigger's RAISE), MISMATCH, RANGE


def about_the_data(exc: DatabaseError) -> bool:
    """Whether ``exc`` is the database refusing these values (not the connection, a lock or the server)."""
    if isinstance(exc, (DataError, IntegrityError)):
        return True  # DB-API: the values themselves (MySQL constraint codes are mapped to these)
    if connection.vendor == "mysql":
        code = next((e.args[0] for e in (exc, exc.__cause__) if e is not None and e.args
                     and isinstance(e.args[0], int)), None)
        if code is None or code < 1000:
            return False  # not a server's answer (an OS errno, the driver's 0 for a closed connection)
        if 2000 <= code < 3000:
            return code == MYSQL_CLIENT_PACKET_TOO_LARGE
        return code not in MYSQL_NOT_DATA
    if connection.vendor == "sqlite":
        code = getattr(exc.__cause__, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in SQLITE_DATA
    return False


def can_go_on(exc: DatabaseError) -> bool:
    """Whether the refused rows can be isolated: a data error on a connection (and transaction) still good."""
    if not about_the_data(exc):
        return False
    if connection.in_atomic_block:
        # The caller's transaction (the rescue's, holding its row locks) must have survived the error.
        return not connection.needs_rollback and connection.connection is not None and connection.is_usable()
    if connection.connection is not None and not connection.is_usable():
        connection.close()  # the server hung up after refusing the statement: the next write reconnects
    return True


@cache
def json_fields() -> frozenset[str]:
    """The Task columns holding JSON documents: the values a database may refuse, and the large ones."""
    return frozenset(f.name for f in Task._meta.concrete_fields if isinstance(f, JSONField))


def size(outcome: Outcome) -> int:
    """The bytes ``outcome`` adds to an UPDATE, estimated: its JSON as the driver sends it, escaped."""
    total = ROW_OVERHEAD
    for name in json_fields() & outcome.fields.keys():
        text = json.dumps(outcome.fields[name], default=str)  # ensure_ascii, as Django's JSONField sends it
        # mysqlclient inlines values as escaped literals: each quote and backslash doubles (SQLite binds them).
        total += len(text) + text.count('"') + text.count("\\")
    return total


def unwritable(outcome: Outcome, reason: str) -> Outcome:
    """The smallest outcome that still ends ``outcome``'s run: failed, its result and error history dropped."""
    now = clock.now()
    task = outcome.task
    entry: ErrorEntry = {
        "attempt": outcome.attempt,
        "at": now.isoformat(),
        "type": UnwritableOutcome.__name__,
        "exception_path": f"{UnwritableOutcome.__module__}.{UnwritableOutcome.__qualname__}",
        "message": f"the {outcome.status} outcome of this run could not be stored: {reason}"[:500],
        "worker": (task.worker or "") if task is not None else "",
    }
    # Every JSON value is dropped (any may be the one refused); the scalars (lost, worker…) are kept.
    fields = {name: value for name, value in outcome.fields.items() if name not in json_fields() and name != "run_at"}
    fields.update(status=Status.FAILED, result=None, errors=[entry], finished_at=now, lease_expires_at=None)
    if task is not None and "errors" not in task.get_deferred_fields():
        fields["errors_dropped"] = task.errors_dropped + len(error_entries(task.errors))
    return Outcome(outcome.task_id, outcome.attempt, Status.FAILED, fields, task, run=outcome.run,
                   cancel_seen=outcome.cancel_seen)


def chunks(outcomes: Iterable[Outcome], *, max_rows: int, max_bytes: int) -> Iterator[list[Outcome]]:
    """``outcomes`` in order, in chunks of at most ``max_rows`` rows and about ``max_bytes`` bytes.

    An outcome over ``max_bytes`` on its own is replaced by its minimal failure: no chunk
    could carry it, and a MySQL server refusing a packet too large only says "gone away",
    which cannot be told from a lost connection.
    """
    chunk: list[Outcome] = []
    used = 0
    for outcome in outcomes:
        n = size(outcome)
        if n > max_bytes:
            logger.warning("task %s: its %s outcome is about %d bytes, over JOBS['MAX_WRITE_BYTES']: recorded as "
                           "failed", outcome.task_id, outcome.status, n)
            outcome = unwritable(outcome, f"about {n} bytes, over JOBS['MAX_WRITE_BYTES'] = {max_bytes}")
            n = size(outcome)
        if chunk and (len(chunk) >= max_rows or used + n > max_bytes):
            yield chunk
            chunk, used = [], 0
        chunk.append(outcome)
        used += n
    if chunk:
        yield chunk


def write_chunk(chunk: list[Outcome], *, fence: Q | None = None) -> int:
    """Write ``chunk`` (``finish.write``), isolating the rows the database refuses; return the rows changed."""
    try:
        return finish.write(chunk, fence=fence)
    except DatabaseError as exc:
        if not can_go_on(exc):
            raise
        if len(chunk) > 1:
            middle = len(chunk) // 2
            return write_chunk(chunk[:middle], fence=fence) + write_chunk(chunk[middle:], fence=fence)
        return _write_minimal(chunk[0], exc, fence=fence)


def _write_minimal(outcome: Outcome, exc: DatabaseError, *, fence: Q | None) -> int:
    logger.warning("task %s: the database refused its %s outcome, recording it as failed: %s",
                   outcome.task_id, outcome.status, exc)
    try:
        return finish.write([unwritable(outcome, f"{type(exc).__name__}: {exc}"[:300])], fence=fence)
    except DatabaseError as again:
        if not can_go_on(again):
            raise
        # Never retry it with the batch: it stays running until its lease lapses, then the rescue tries.
        logger.error("task %s: the database refused even a minimal failure for its run %s; skipped (it will be "
                     "rescued once its lease lapses): %s", outcome.task_id, outcome.run, again)
        return 0


def write_all(outcomes: list[Outcome], *, fence: Q | None = None, max_rows: int, max_bytes: int) -> int:
    """Write ``outcomes`` in bounded chunks, isolating refused rows; return the rows changed."""
    return sum(write_chunk(chunk, fence=fence) for chunk in chunks(outcomes, max_rows=max_rows, max_bytes=max_bytes))
