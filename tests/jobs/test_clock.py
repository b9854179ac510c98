"""jobs.clock: the database's time, measured with one query (SQLite and MariaDB passes).

The skewed cases run a real process under ``faketime``: on MariaDB the database's clock is
the server's, so that process measures its own offset and corrects it; on SQLite the
database *is* the process, so its clock is the host's, whatever that says.
"""

import json
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import clock
from tests.support import BACKEND, ROOT
from tests.support.processes import faketime_binary

pytestmark = pytest.mark.django_db

SCRIPT = """
import json, django
django.setup()
from jobs import clock
skew = clock.sync()
print(json.dumps({"skew": skew, "reported": clock.skew(), "now": clock.now().isoformat()}))
"""


def database_now() -> datetime:
    clock.sync()
    return clock.now()


def test_sync_measures_this_hosts_offset_with_one_query() -> None:
    with CaptureQueriesContext(connection) as queries:
        skew = clock.sync()
    assert [q["sql"] for q in queries] == [clock.QUERIES[connection.vendor]]
    assert clock.skew() == skew
    assert abs(skew) < 0.5  # the test's clock and its database's agree


def test_now_is_the_databases_utc_time() -> None:
    clock.sync()
    with connection.cursor() as cursor:
        cursor.execute(clock.QUERIES[connection.vendor])
        (raw,) = cursor.fetchone()
    told = clock._as_utc(raw)
    assert clock.now().utcoffset() == timedelta(0)
    assert abs(clock.now() - told) < timedelta(milliseconds=100)


def test_refresh_measures_again_only_once_the_offset_is_old() -> None:
    clock.sync()
    with CaptureQueriesContext(connection) as queries:
        clock.refresh()  # measured just now: trusted for REFRESH_SECONDS
        clock.refresh(max_age=0)  # older than that: measured again
    assert len(queries) == 1


@pytest.mark.parametrize("offset", [30, -30])
def test_a_process_whose_clock_is_off_corrects_it(offset: int, worker_env: dict[str, str]) -> None:
    before = database_now()
    out = subprocess.run(
        [faketime_binary(), "-f", f"{offset:+d}s", sys.executable, "-c", SCRIPT],
        env={**worker_env, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}, cwd=ROOT, capture_output=True, timeout=60,
        check=True,
    )
    after = database_now()
    seen = json.loads(out.stdout.decode().strip().splitlines()[-1])
    assert seen["reported"] == seen["skew"]
    if BACKEND == "mariadb":
        assert seen["skew"] == pytest.approx(offset, abs=0.5)
        # Corrected: the faked process's now() fell between this process's two readings of the database's.
        slack = timedelta(milliseconds=200)
        assert before - slack <= datetime.fromisoformat(seen["now"]) <= after + slack
    else:
        assert seen["skew"] == pytest.approx(0, abs=0.5)  # SQLite reads the process's own clock
