"""Make the database itself refuse some writes to one task: a real trigger, on MariaDB and SQLite."""

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, connections

#: The end of a run, whatever it records (a completion, a failure, a rescue): the claim and leases still pass.
ANY_END = "OLD.status = 'running' AND NEW.status <> 'running'"

_names = itertools.count(1)


@contextmanager
def refused(task_id: int, when: str = "NEW.status = 'completed'", *,
            message: str = "refused by a test trigger") -> Iterator[str]:
    """While open, every UPDATE of task ``task_id`` matching the SQL condition ``when`` fails in the database."""
    name = f"test_refuse_{task_id}_{next(_names)}"
    condition = f"NEW.id = {int(task_id)} AND {when}"
    # DDL takes no parameters; every piece is the test's own text.
    if connection.vendor == "mysql":
        sql = (f"CREATE TRIGGER {name} BEFORE UPDATE ON jobs_task FOR EACH ROW IF {condition} THEN "  # noqa: S608
               f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'; END IF")
    else:
        sql = (f"CREATE TRIGGER {name} BEFORE UPDATE ON jobs_task FOR EACH ROW WHEN {condition} "
               f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
    with connection.cursor() as cursor:
        cursor.execute(sql)
    try:
        yield message
    finally:
        # Triggers are schema, not rows: a transactional test's flush would leave them behind.
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


@contextmanager
def locked_elsewhere(task_id: int) -> Iterator[None]:
    """While open, another connection holds a lock this connection gives up on within a second or so
    (SQLite: the write lock, "database is locked"; MariaDB: the row, lock wait timeout 1205)."""
    if connection.vendor == "mysql":
        other = connections.create_connection("default")
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute("SELECT id FROM jobs_task WHERE id = %s FOR UPDATE", [task_id])
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        release = other.close
    else:
        lite = sqlite3.connect(connection.settings_dict["NAME"])
        lite.execute("BEGIN IMMEDIATE")
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 100")
        release = lite.close
    try:
        yield
    finally:
        release()
        connection.close()  # forget the short wait set above
