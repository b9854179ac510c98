"""The plans of every task list filter and sort on MariaDB: each query reads a range of an index
scoped to the tenant (or the window's ids by primary key), and never more rows than the window."""


import pytest

from jobs.services import listing, scan
from jobs.services.enqueue import enqueue_many
from tests.support.api import Caller
from tests.support.plans import plan_tables

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]

WINDOW = 100  # the scan window in the plan tests: a twentieth of the tenant's rows
LIST_CASES = [
    {}, {"order": "asc"}, {"sort_by": "id"}, {"sort_by": "priority"}, {"sort_by": "status", "order": "asc"},
    {"status": "failed"}, {"status": "failed,pending"}, {"type": "send_email"}, {"queue": "bulk"},
    {"q": "send"}, {"q": "#12"}, {"priority": 5}, {"created_after": "2000-01-01"},
    {"finished_after": "2000-01-01"}, {"status": "failed", "sort_by": "priority"}, {"why": "failed"},
    {"cursor": ""}, {"cursor": "", "order": "asc"}, {"cursor": "", "status": "failed"},
    {"cursor": "", "type": "send_email"}, {"cursor": "", "queue": "bulk"}, {"cursor": "", "q": "zzz"},
    {"cursor": "", "status": "scheduled,failed"}, {"cursor": "", "priority": 1},
]


@pytest.fixture
def big_tables(api: Caller, other_api: Caller, monkeypatch: pytest.MonkeyPatch) -> Caller:
    """A tenant of 2,000 tasks among another's 6,000, interleaved as live traffic is, mostly
    finished, of several types, queues and priorities; windows and counts of WINDOW rows."""
    from django.db import connection
    from django.utils import timezone

    from jobs.models import Task

    for _ in range(8):
        for caller, count in ((api, 250), (other_api, 750)):
            enqueue_many([{"type": ("noop", "send_email", "fail")[i % 3], "queue": ("default", "bulk")[i % 2],
                           "priority": 1 + i % 5} for i in range(count)], tenant=caller.tenant)
    ids = list(Task.objects.order_by("id").values_list("id", flat=True))
    finished = timezone.now()
    Task.objects.filter(pk__in=ids[: int(len(ids) * 0.9)]).update(status="completed", finished_at=finished)
    Task.objects.filter(pk__in=ids[::50]).update(status="failed", finished_at=finished)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE jobs_task")
        cursor.fetchall()
    monkeypatch.setattr(scan, "SCAN_ROWS", WINDOW)
    monkeypatch.setattr(listing, "COUNT_CAP", WINDOW)
    return api


def _examined(sql: str) -> list[tuple[str | None, list[str], str, int]]:
    """(index, its parts used, access type, rows actually read) of each read of jobs_task when ``sql`` runs."""
    import json

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE FORMAT=JSON " + sql)
        plan = json.loads(cursor.fetchone()[0])
    return [(t.get("key"), t.get("used_key_parts", []), t.get("access_type", ""),
             round(t.get("r_loops", 1) * t.get("r_rows", 0)))
            for t in plan_tables(plan) if t["table_name"] == "jobs_task"]


def test_every_list_filter_and_sort_reads_a_tenant_leading_index_and_a_bounded_range(big_tables: Caller) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    failures = []
    for params in LIST_CASES:
        with CaptureQueriesContext(connection) as queries:
            response = big_tables.get("/api/tasks", params)
        assert response.status_code == 200, (params, response.content[:500])
        reads = [q["sql"] for q in queries.captured_queries if "FROM `jobs_task`" in q["sql"]]
        assert reads, params
        for sql in reads:
            for key, parts, access, rows in _examined(sql):
                # The window's ids looked up by primary key, or a range of an index scoped to the tenant.
                scoped = "tenant_id" in parts or (key == "PRIMARY" and access in ("range", "eq_ref"))
                # Never the tenant's 2,000 rows: a window, a count or a page.
                if not scoped or rows > WINDOW + 1:
                    failures.append((params, key, access, rows, sql[:400]))
    assert not failures, "\n".join(map(str, failures))
