"""The Limits page: tenant caps, concurrency keys with their holders, resources with tokens; live over SSE."""

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services import resources
from jobs.services.enqueue import enqueue_many
from jobs.store import pauses, transitions  # tests may set states up through the store
from tenants.models import Tenant
from tests.support.console import html

pytestmark = pytest.mark.django_db

LIVE = "(pending|scheduled|blocked|running)"
LIVE_ONLY = re.compile(rf"status[`\"]? IN \('{LIVE}'(, '{LIVE}')*\)")


@pytest.fixture(autouse=True)
def _fresh_pauses() -> None:
    pauses.invalidate()


def row(body: str, attr: str, name: str) -> str:
    match = re.search(rf'<tr data-{attr}="{re.escape(name)}"[^>]*>(.*?)</tr>', body, re.S)
    assert match, f"no {attr} row {name!r} in {body[:3000]}"
    return match.group(1)


def cell(body: str, name: str) -> str:
    match = re.search(rf"data-{name}>(.*?)</td>", body, re.S)
    assert match, f"no {name} cell in {body}"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def claim(tenant: Tenant, n: int, worker: str = "w1") -> list[Task]:
    return transitions.claim(worker=worker, asks={tenant.pk: n}, queues=None, lease_seconds=60,
                             capped={tenant.pk})


def limited_state(tenant: Tenant) -> list[Task]:
    """acme: cap 2 with both slots on key acct-1 (limit 2), 2 blocked; a resource with no token left."""
    resources.define("partner-api", rate=1, per_seconds=60)
    enqueue_many([{"type": "noop", "concurrency_key": "acct-1", "concurrency_limit": 2}] * 4, tenant=tenant)
    holders = claim(tenant, 4)  # no cap yet: the key admits 2 and blocks 2
    Tenant.objects.filter(pk=tenant.pk).update(max_running=2)
    enqueue_many([{"type": "noop", "resource": "partner-api"}] * 2, tenant=tenant)
    return holders


def test_empty_states(viewer: Client, tenant: Tenant) -> None:
    body = html(viewer.get("/limits/"))
    assert 'aria-current="page">Limits' in body and 'sse-connect="/console/events?panels=limits"' in body
    assert "No tenant has a cap" in body and "No concurrency key has running or blocked tasks" in body
    assert "No resource is defined" in body


def test_the_page_shows_caps_holders_and_tokens(viewer: Client, tenant: Tenant, other_tenant: Tenant) -> None:
    holders = limited_state(tenant)
    assert len(holders) == 2
    body = html(viewer.get("/limits/"))
    acme = row(body, "cap", "acme")
    assert 'href="/tenants/acme/"' in acme
    assert (cell(acme, "cap-value"), cell(acme, "running"), cell(acme, "waiting")) == ("2", "2", "2")
    assert "at its cap" in acme
    key = row(body, "key", "acme:acct-1")
    assert (cell(key, "limit"), cell(key, "running"), cell(key, "blocked")) == ("2", "2", "2")
    for t in holders:
        assert f'href="/tasks/{t.pk}/"' in key and f"#{t.pk}" in key
    assert "on w1" in key
    api = row(body, "resource", "partner-api")
    assert cell(api, "available") == "1" and cell(api, "throttled") == "0" and "global" in api


def test_the_page_never_counts_the_whole_task_table(viewer: Client, tenant: Tenant) -> None:
    limited_state(tenant)
    Task.objects.filter(status=Status.PENDING, resource="partner-api").update(status=Status.SCHEDULED,
                                                                             blocked_on="resource")
    for path in ("/limits/", "/live/limits/"):
        with CaptureQueriesContext(connection) as queries:
            assert viewer.get(path).status_code == 200
        for query in queries.captured_queries:
            sql = query["sql"]
            if "jobs_task" in sql:
                upper = sql.upper()
                # Every read of the task table is a live status's range, or by primary key.
                assert LIVE_ONLY.search(sql) or "`ID` IN (" in upper or '"ID" IN (' in upper, sql
                if "COUNT(" in upper or "DISTINCT" in upper:  # the console's rule (test_task_list)
                    assert "LIMIT" in upper or LIVE_ONLY.search(sql), sql


def test_the_live_fragment_and_access(viewer: Client, anon: Client, tenant: Tenant) -> None:
    limited_state(tenant)
    body = html(viewer.get("/live/limits/"))
    assert "<html" not in body and "\n" not in body and 'data-key="acme:acct-1"' in body
    assert anon.get("/limits/").status_code == 302
    nobody = User.objects.create_user("plain", is_staff=True)
    c = Client()
    c.force_login(nobody)
    assert c.get("/limits/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_limits_stream_pushes_the_tables_live(tenant: Tenant, daphne: Any, streams: Any) -> None:
    clerk = Client()
    clerk.force_login(User.objects.create_user("watcher", is_staff=True, is_superuser=True))
    console = streams(daphne.port, "/console/events?panels=limits",
                      {"Cookie": f"sessionid={clerk.cookies['sessionid'].value}"})
    assert console.status == 200
    console.wait(lambda s: any(m.event == "limits" for m in s.snapshot()), what="the first tables")
    first = next(m for m in console.snapshot() if m.event == "limits")
    assert first.data and "No concurrency key has running" in first.data
    enqueue_many([{"type": "noop", "concurrency_key": "live-key"}] * 2, tenant=tenant)
    (holder,) = claim(tenant, 2)
    console.wait(lambda s: any(m.event == "limits" and f'data-holder="{holder.pk}"' in (m.data or "")
                               for m in s.snapshot()), timeout=30, what="the new holder in the keys table")
    assert {m.event for m in console.snapshot()} <= {"limits", None}  # only this page's panel
