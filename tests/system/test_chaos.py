"""The bounded chaos run (``python -m deploy.chaos --bounded``): nothing is lost while parts of the topology die.

1,500 tasks flow in through nginx while a worker supervisor and its children are killed -9,
a web instance is killed -9, MariaDB restarts and Redis is stopped for 5 s. Its own servers
(deploy/servers.py), not the suite's. The full run is ``python -m deploy.chaos`` (10,000 tasks,
Redis down 10 s); docs/DEPLOYMENT.md has its figures.
"""

import pytest

from deploy.chaos import Chaos, Config

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]


def test_bounded_chaos_loses_nothing() -> None:
    lines: list[str] = []
    report = Chaos(Config.bounded(), log=lines.append).run()
    summary = report.summary()
    print(summary)  # noqa: T201 — the figures, in the test log
    assert report.ok, summary

    # Every task finished, every acknowledged enqueue exists.
    assert report.acked >= 1_500
    assert report.tasks_in_db == report.acked
    assert set(report.statuses) <= {"completed", "failed"} and not report.unfinished and not report.missing_acked

    # The four disruptions happened, and the killed worker's tasks were the only ones that ran twice.
    assert [e["event"] for e in report.events] == ["kill -9 worker2", "kill -9 web2", "restart MariaDB", "stop Redis"]
    assert len(report.kills) == 2
    assert not report.unexplained_duplicates
    assert report.duplicate_tasks <= report.held_by_killed

    # Never a 500; the database outage answered 503 (directly; nginx may add 502s, counted apart).
    assert not report.server_errors
    direct = {s for k, counts in report.db_outage_statuses.items() if k.endswith("@web1") for s in counts}
    assert "503" in direct and "500" not in direct
    assert all(e["recovered after"] < 60 for e in report.events), report.events
