"""The operations console: pages, partials, permissions, actions, live fragments and charts."""

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard import charts, formatting, live
from jobs.lifecycle import Status
from jobs.models import Event, Task
from jobs.services import deadletter, listing
from jobs.store import rollups
from tenants import keys
from tenants.models import ApiKey, Tenant
from tests.support.builders import add_task, add_worker, error_entry, failed_task, finish, slot
from tests.support.console import HTMX, PASSWORD, client_for, counter, html, make_user, query_string, row_ids

pytestmark = pytest.mark.django_db

PAGES = ["/", "/tasks/", "/dead-letter/", "/analytics/", "/types/", "/tenants/", "/live/counters/",
         "/live/workers/", "/live/feed/", "/live/chart/"]


def statuses(*tasks: Task) -> list[str]:
    return [Task.objects.get(pk=t.pk).status for t in tasks]


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_is_sent_to_login(anon: Any, path: str) -> None:
    response = anon.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_non_staff_user_is_sent_to_login(tenant: Tenant) -> None:
    client = client_for(make_user("customer", staff=False, perms=["jobs.view_task"]))
    response = client.get("/tasks/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_staff_without_view_permission_gets_403(tenant: Tenant) -> None:
    client = client_for(make_user("nobody"))
    assert client.get("/tasks/").status_code == 403
    assert client.get("/tenants/").status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_viewer_sees_every_page(viewer: Any, tenant: Tenant, path: str) -> None:
    add_task(tenant)
    tenant_page = viewer.get(f"/tenants/{tenant.slug}/")
    assert tenant_page.status_code == 200
    assert viewer.get(path).status_code == 200


def test_login_page_and_logout(tenant: Tenant) -> None:
    make_user("ops", perms=["jobs.view_task"])
    from django.test import Client

    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200
    assert '<label for="id_username">' in html(page) and '<label for="id_password">' in html(page)
    assert 'class="skip-link" href="#main"' in html(page)
    response = client.post("/login/", {"username": "ops", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_viewer_gets_no_action_buttons(viewer: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    failed = failed_task(tenant, "send_email", ("SMTPError", "down"))
    listing = html(viewer.get("/tasks/"))
    assert f'data-task-id="{pending.pk}"' in listing
    assert "/cancel/" not in listing and "/retry/" not in listing and "tasks/bulk" not in listing
    detail = html(viewer.get(f"/tasks/{failed.pk}/"))
    assert "Retry with fresh attempts" not in detail and "/retry/" not in detail
    dead = html(viewer.get("/dead-letter/"))
    assert "dead-letter/requeue" not in dead
    tenant_page = html(viewer.get(f"/tenants/{tenant.slug}/"))
    assert 'name="weight"' not in tenant_page and "Create key" not in tenant_page and "/revoke/" not in tenant_page
    assert "view only" in listing


def test_operator_gets_action_buttons(operator: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    failed = failed_task(tenant, "send_email", ("SMTPError", "down"))
    listing = html(operator.get("/tasks/"))
    assert f"/tasks/{pending.pk}/cancel/" in listing and f"/tasks/{failed.pk}/retry/" in listing
    assert f"/tasks/{pending.pk}/retry/" not in listing  # only what the state allows
    assert "/tasks/bulk/" in listing
    assert "dead-letter/requeue" in html(operator.get("/dead-letter/"))
    tenant_page = html(operator.get(f"/tenants/{tenant.slug}/"))
    assert 'name="weight"' in tenant_page and "Create key" in tenant_page


def test_viewer_posts_answer_403_and_change_nothing(viewer: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    failed = failed_task(tenant, "send_email", ("SMTPError", "down"))
    key, raw = keys.issue(tenant, name="existing")
    posts: list[tuple[str, dict[str, str]]] = [
        (f"/tasks/{pending.pk}/cancel/", {}),
        (f"/tasks/{failed.pk}/retry/", {}),
        ("/tasks/bulk/", {"action": "cancel", "confirm": "yes", "upto": str(pending.pk + 10)}),
        ("/tasks/bulk/", {"action": "retry", "confirm": "yes", "upto": str(failed.pk + 10)}),
        ("/dead-letter/requeue/", {"scope": "all", "confirm": "yes"}),
        ("/dead-letter/requeue/", {"scope": "group", "type": "send_email", "error_type": "SMTPError",
                                   "error_message": "down", "confirm": "yes"}),
        (f"/tenants/{tenant.slug}/", {"weight": "9", "rate_limit": "5", "rate_window_seconds": "7"}),
        (f"/tenants/{tenant.slug}/keys/", {"name": "sneaky"}),
        (f"/tenants/{tenant.slug}/keys/{key.pk}/revoke/", {}),
    ]
    for path, data in posts:
        assert viewer.post(path, data).status_code == 403, path
        assert viewer.post(path, data, headers=HTMX).status_code == 403, path
    assert statuses(pending, failed) == [Status.PENDING, Status.FAILED]
    tenant.refresh_from_db()
    assert (tenant.weight, tenant.rate_limit) == (1, None)
    assert list(ApiKey.objects.values_list("name", "revoked_at")) == [("existing", None)]
    assert keys.verify(raw) is not None


def test_anonymous_posts_change_nothing(anon: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    response = anon.post(f"/tasks/{pending.pk}/cancel/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert statuses(pending) == [Status.PENDING]


def test_actions_refuse_get(operator: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    assert operator.get(f"/tasks/{pending.pk}/cancel/").status_code == 405
    assert statuses(pending) == [Status.PENDING]


# --------------------------------------------------------------------------- single task actions


def test_operator_cancels_and_retries(operator: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    running = add_task(tenant, status=Status.RUNNING, attempts=1, worker="host-a:1:w",
                       started_at=timezone.now(), lease_expires_at=timezone.now() + timedelta(seconds=20))
    failed = failed_task(tenant, "send_email", ("SMTPError", "down"))
    response = operator.post(f"/tasks/{pending.pk}/cancel/", {"next": "/tasks/?status=pending"})
    assert response.status_code == 302 and response["Location"] == "/tasks/?status=pending"
    response = operator.post(f"/tasks/{running.pk}/cancel/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/tasks/{running.pk}/"  # only local redirects
    operator.post(f"/tasks/{failed.pk}/retry/")
    pending.refresh_from_db()
    running.refresh_from_db()
    failed.refresh_from_db()
    assert pending.status == Status.CANCELLED and pending.finished_at is not None
    assert running.status == Status.RUNNING and running.cancel_requested
    assert failed.status == Status.PENDING and failed.attempts == 0 and len(failed.errors) == 1


def test_invalid_transition_is_reported_and_changes_nothing(operator: Any, tenant: Tenant) -> None:
    done = add_task(tenant, status=Status.COMPLETED, finished_at=timezone.now())
    response = operator.post(f"/tasks/{done.pk}/cancel/", follow=True)
    assert f"Task {done.pk} is completed: it cannot be cancelled." in html(response)
    response = operator.post(f"/tasks/{done.pk}/retry/", follow=True)
    assert "it cannot be retried" in html(response)
    assert statuses(done) == [Status.COMPLETED]
    assert operator.post("/tasks/999999999/cancel/").status_code == 404


def test_htmx_actions_return_the_updated_row_or_panel(operator: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    failed = failed_task(tenant, "send_email", ("SMTPError", "down"))
    response = operator.post(f"/tasks/{pending.pk}/cancel/", {"next": "/tasks/"},
                             headers={**HTMX, "HX-Target": f"task-row-{pending.pk}"})
    body = html(response)
    assert response.status_code == 200 and "<html" not in body
    assert f'<tr id="task-row-{pending.pk}"' in body and 'badge s-cancelled">cancelled' in body
    assert 'id="messages"' in body and 'hx-swap-oob="true"' in body and f"Task {pending.pk} cancelled." in body
    assert f"/tasks/{pending.pk}/cancel/" not in body  # nothing left to cancel
    response = operator.post(f"/tasks/{failed.pk}/retry/", headers={**HTMX, "HX-Target": "task-detail"})
    body = html(response)
    assert 'id="task-detail"' in body and 'badge s-pending">pending' in body and "requeued" in body
    assert statuses(pending, failed) == [Status.CANCELLED, Status.PENDING]


# --------------------------------------------------------------------------- task list


@pytest.fixture
def catalogue(tenant: Tenant, other_tenant: Tenant) -> dict[str, Task]:
    base = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    return {
        "a": add_task(tenant, "send_email", priority=5, queue="mail", created_at=base, idempotency_key="order-1"),
        "b": add_task(tenant, "send_email", status=Status.RUNNING, priority=3, created_at=base + timedelta(hours=1)),
        "c": add_task(tenant, "resize_image", status=Status.FAILED, priority=1, created_at=base + timedelta(hours=2)),
        "d": add_task(other_tenant, "send_email", status=Status.SCHEDULED, priority=5, queue="mail",
                      created_at=base + timedelta(hours=3)),
        "e": add_task(other_tenant, "generate_report", status=Status.COMPLETED, priority=2,
                      created_at=base + timedelta(hours=4)),
    }


def ids(tasks: dict[str, Task], *names: str) -> list[int]:
    return sorted((tasks[n].pk for n in names), reverse=True)


@pytest.mark.parametrize(("params", "expected"), [
    ({}, "abcde"),
    ({"tenant": "acme"}, "abc"),
    ({"tenant": "globex", "type": "send_email"}, "d"),
    ({"type": "send_email"}, "abd"),
    ({"status": "failed"}, "c"),
    ({"priority": "5"}, "ad"),
    ({"queue": "mail"}, "ad"),
    ({"created_after": "2030-01-01T11:00", "created_before": "2030-01-01T13:00"}, "bc"),
    ({"q": "send"}, "abd"),
    ({"q": "order-1"}, "a"),
    ({"tenant": "acme", "priority": "5", "status": "pending"}, "a"),
])
def test_filters_and_search(viewer: Any, catalogue: dict[str, Task], params: dict[str, str], expected: str) -> None:
    assert row_ids(viewer.get("/tasks/", params)) == ids(catalogue, *expected)


def test_search_by_id_and_dates_in_the_viewers_zone(viewer: Any, catalogue: dict[str, Task]) -> None:
    assert row_ids(viewer.get("/tasks/", {"q": str(catalogue["c"].pk)})) == [catalogue["c"].pk]
    # 11:00 in Paris (UTC+1 in January) is 10:00 UTC: task a was created then.
    in_paris = {"created_after": "2030-01-01T11:00", "created_before": "2030-01-01T12:00", "tz": "Europe/Paris"}
    assert row_ids(viewer.get("/tasks/", in_paris)) == ids(catalogue, "a")
    assert "dates read in Europe/Paris" in html(viewer.get("/tasks/", in_paris))
    assert row_ids(viewer.get("/tasks/", {**in_paris, "tz": ""})) == ids(catalogue, "b")
    for bogus in ("Mars/Olympus", "../etc/passwd", "zone.tab", "x" * 300):  # read as UTC
        assert row_ids(viewer.get("/tasks/", {**in_paris, "tz": bogus})) == ids(catalogue, "b")


@pytest.mark.parametrize("odd", ["²", "1²", "#²", "٣", "9" * 40])
def test_odd_numbers_never_answer_500(viewer: Any, catalogue: dict[str, Task], odd: str) -> None:
    """``'²'.isdigit()`` is true but ``int('²')`` raises: numbers must be ASCII digits."""
    assert row_ids(viewer.get("/tasks/", {"q": odd})) == []
    assert viewer.get("/tasks/", {"after": odd, "before": odd, "size": odd}).status_code == 200
    assert viewer.get("/live/feed/", {"after": odd}).status_code == 200
    assert viewer.get("/analytics/", {"window": odd}).status_code == 200


def test_invalid_filters_are_reported_and_ignored(viewer: Any, catalogue: dict[str, Task]) -> None:
    response = viewer.get("/tasks/", {"priority": "9", "status": "bogus", "tenant": "acme"})
    body = html(response)
    assert response.status_code == 200 and 'role="alert"' in body
    assert row_ids(response) == ids(catalogue, "a", "b", "c")
    reversed_range = viewer.get("/tasks/", {"created_after": "2030-01-02T00:00", "created_before": "2030-01-01T00:00"})
    assert "must be later than" in html(reversed_range)


def test_keyset_pagination(viewer: Any, tenant: Tenant, other_tenant: Tenant) -> None:
    tasks = [add_task(tenant if i % 3 else other_tenant, "noop") for i in range(10)]
    acme = sorted((t.pk for t in tasks if t.tenant_id == tenant.pk), reverse=True)  # 6 tasks
    first = viewer.get("/tasks/", {"tenant": "acme", "size": "4"})
    assert row_ids(first) == acme[:4]
    body = html(first)
    assert 'rel="prev"' not in body
    next_url = re.search(r'href="([^"]+)" rel="next"', body)
    assert next_url
    query = query_string(next_url.group(1))
    assert query == {"tenant": "acme", "size": "4", "after": str(acme[3])}
    second = viewer.get("/tasks/", query)
    assert row_ids(second) == acme[4:]
    assert 'rel="next"' not in html(second)
    prev_url = re.search(r'href="([^"]+)" rel="prev"', html(second))
    assert prev_url
    back = query_string(prev_url.group(1))
    assert back["before"] == str(acme[4])
    assert row_ids(viewer.get("/tasks/", back)) == acme[:4]
    assert 'rel="prev"' not in html(viewer.get("/tasks/", back))
    # A page in the middle has both links.
    middle = viewer.get("/tasks/", {"tenant": "acme", "size": "2", "after": str(acme[1])})
    assert row_ids(middle) == acme[2:4]
    assert 'rel="prev"' in html(middle) and 'rel="next"' in html(middle)
    # Before the newest row: a short page falls back to the first page.
    assert row_ids(viewer.get("/tasks/", {"tenant": "acme", "size": "4", "before": str(acme[1])})) == acme[:4]


def test_list_never_counts_the_table(viewer: Any, catalogue: dict[str, Task]) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = viewer.get("/tasks/", {"type": "send_email", "q": "send"})
    assert response.status_code == 200
    sql = " ".join(q["sql"].upper() for q in queries.captured_queries)
    assert "COUNT(" not in sql and "DISTINCT" not in sql
    assert '"PAYLOAD"' not in sql and "`PAYLOAD`" not in sql  # heavy columns stay on disk


LIVE_ONLY = re.compile(r"status[`\"]? IN \('(pending|scheduled|running)'(, '(pending|scheduled|running)')*\)")


@pytest.mark.parametrize("path", PAGES)
def test_no_page_counts_the_whole_task_table(viewer: Any, catalogue: dict[str, Task], path: str) -> None:
    """COUNT/DISTINCT on jobs_task only over a LIMITed subquery or the live statuses' index range."""
    with CaptureQueriesContext(connection) as queries:
        assert viewer.get(path).status_code == 200
    for query in queries.captured_queries:
        sql = query["sql"]
        if "jobs_task" in sql and ("COUNT(" in sql.upper() or "DISTINCT" in sql.upper()):
            assert "LIMIT" in sql.upper() or LIVE_ONLY.search(sql), sql


def test_list_htmx_partial(viewer: Any, catalogue: dict[str, Task]) -> None:
    response = viewer.get("/tasks/", {"status": "failed"}, headers={**HTMX, "HX-Target": "task-results"})
    body = html(response)
    assert body.lstrip().startswith("<section id=\"task-results\"") and "<html" not in body
    assert row_ids(response) == [catalogue["c"].pk]
    page = html(viewer.get("/tasks/"))
    assert 'hx-get="/tasks/"' in page and 'hx-target="#task-results"' in page and 'hx-push-url="true"' in page
    assert '<form method="get" action="/tasks/"' in page  # works without JavaScript too


# --------------------------------------------------------------------------- drill-down


def test_task_detail(viewer: Any, tenant: Tenant) -> None:
    finished = timezone.now()
    task = add_task(
        tenant, "send_email", status=Status.COMPLETED, attempts=3, payload={"to": "a@example.com"},
        result={"delivered": True}, worker="host-b:7:w", created_at=finished - timedelta(milliseconds=1750),
        started_at=finished - timedelta(milliseconds=250), finished_at=finished,
        errors=[error_entry(1, "SMTPError", "mailbox <full>", worker="host-a:100:w"),
                error_entry(2, "TimeoutError", "took too long", worker="host-c:5:w")],
    )
    response = viewer.get(f"/tasks/{task.pk}/")
    body = html(response)
    assert response.status_code == 200 and "<html" in body
    assert "&quot;to&quot;: &quot;a@example.com&quot;" in body and "&quot;delivered&quot;: true" in body
    assert "Attempt 1 failed" in body and "host-a:100:w" in body and "mailbox &lt;full&gt;" in body
    assert "Attempt 2 failed" in body and "host-c:5:w" in body and "TimeoutError" in body
    assert "Attempt 3 completed" in body and "host-b:7:w" in body
    assert re.search(r'data-metric="queue-wait">1\.5 s<', body)
    assert re.search(r'data-metric="execution">250 ms<', body)
    assert "<details><summary>Traceback</summary>" in body
    panel = viewer.get(f"/tasks/{task.pk}/", headers={**HTMX, "HX-Target": "detail-panel"})
    assert 'id="task-detail"' in html(panel) and "<html" not in html(panel)
    assert viewer.get("/tasks/999999999/").status_code == 404


def test_running_task_shows_its_lease(viewer: Any, tenant: Tenant) -> None:
    now = timezone.now()
    task = add_task(tenant, status=Status.RUNNING, attempts=1, worker="host-a:1:w",
                    started_at=now - timedelta(seconds=5), lease_expires_at=now + timedelta(seconds=15),
                    created_at=now - timedelta(seconds=6))
    body = html(viewer.get(f"/tasks/{task.pk}/"))
    assert re.search(r'data-metric="lease">until <time[^>]*>[^<]*</time> \(1[45](\.\d)? s left\)', body), body
    assert "running for 5" in body and "Attempt 1 running" in body


# --------------------------------------------------------------------------- bulk actions


def bulk(client: Any, data: dict[str, str], **extra: Any) -> Any:
    return client.post("/tasks/bulk/", data, **extra)


def test_bulk_cancel_confirms_the_count_then_cancels_exactly_the_filtered_set(
        operator: Any, tenant: Tenant, other_tenant: Tenant) -> None:
    match = [add_task(tenant, "send_email"), add_task(tenant, "send_email", status=Status.SCHEDULED)]
    running = add_task(tenant, "send_email", status=Status.RUNNING, attempts=1, worker="w")
    finished = add_task(tenant, "send_email", status=Status.COMPLETED)
    other_type = add_task(tenant, "resize_image")
    other_tenant_task = add_task(other_tenant, "send_email")
    filters = {"tenant": "acme", "type": "send_email"}
    confirm = bulk(operator, {**filters, "action": "cancel"})
    body = html(confirm)
    assert confirm.status_code == 200 and 'data-bulk-count="3"' in body  # 2 waiting + 1 running
    assert "tenant = acme, type = send_email" in body
    assert statuses(*match, running) == [Status.PENDING, Status.SCHEDULED, Status.RUNNING]  # nothing yet
    upto = re.search(r'name="upto" value="(\d+)"', body)
    assert upto
    late = add_task(tenant, "send_email")  # enqueued after the confirmation: left alone
    response = bulk(operator, {**filters, "action": "cancel", "confirm": "yes", "upto": upto.group(1)})
    assert response.status_code == 302
    assert query_string(response["Location"]) == filters
    assert statuses(*match) == [Status.CANCELLED, Status.CANCELLED]
    running.refresh_from_db()
    assert running.status == Status.RUNNING and running.cancel_requested
    assert statuses(finished, other_type, other_tenant_task, late) == [Status.COMPLETED, Status.PENDING,
                                                                       Status.PENDING, Status.PENDING]
    assert "Cancelled 2 waiting task(s); asked 1 running task(s) to stop." in html(operator.get(response["Location"]))


def test_bulk_retry_requeues_exactly_the_filtered_set(operator: Any, tenant: Tenant) -> None:
    dead = [failed_task(tenant, "resize_image", ("ValueError", "bad")) for _ in range(3)]
    cancelled = add_task(tenant, "resize_image", status=Status.CANCELLED, finished_at=timezone.now())
    other = failed_task(tenant, "send_email", ("SMTPError", "down"))
    pending = add_task(tenant, "resize_image")
    confirm = html(bulk(operator, {"type": "resize_image", "action": "retry"}))
    assert 'data-bulk-count="4"' in confirm
    upto = re.search(r'name="upto" value="(\d+)"', confirm)
    assert upto
    bulk(operator, {"type": "resize_image", "action": "retry", "confirm": "yes", "upto": upto.group(1)})
    assert statuses(*dead, cancelled) == [Status.PENDING] * 4
    assert statuses(other, pending) == [Status.FAILED, Status.PENDING]
    assert all(t.attempts == 0 for t in Task.objects.filter(pk__in=[d.pk for d in dead]))


def test_bulk_count_is_bounded(operator: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(4):
        add_task(tenant)
    monkeypatch.setattr(listing, "ACTION_COUNT_CAP", 3)
    with CaptureQueriesContext(connection) as queries:
        body = html(bulk(operator, {"action": "cancel"}))
    assert "more than 3" in body
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 4" in q for q in counts)


def test_bulk_confirmation_over_htmx_is_a_fragment(operator: Any, tenant: Tenant) -> None:
    add_task(tenant)
    response = bulk(operator, {"action": "cancel", "status": "pending"}, headers={**HTMX, "HX-Target": "bulk-panel"})
    body = html(response)
    assert "<html" not in body and 'data-bulk-count="1"' in body and 'name="confirm" value="yes"' in body
    assert bulk(operator, {"action": "explode"}).status_code == 400


def test_bulk_with_nothing_to_do(operator: Any, tenant: Tenant) -> None:
    add_task(tenant, status=Status.COMPLETED)
    body = html(bulk(operator, {"action": "cancel"}))
    assert 'data-bulk-count="0"' in body and "nothing to do" in body and 'name="confirm"' not in body


# --------------------------------------------------------------------------- dead letter


@pytest.fixture
def dead_set(tenant: Tenant, other_tenant: Tenant) -> dict[str, list[Task]]:
    return {
        "full": [
            failed_task(tenant, "send_email", ("TimeoutError", "slow"), ("SMTPError", "mailbox full")),
            failed_task(tenant, "send_email", ("SMTPError", "mailbox full")),
            failed_task(other_tenant, "send_email", ("SMTPError", "mailbox full")),
        ],
        "address": [failed_task(tenant, "send_email", ("SMTPError", "bad address")) for _ in range(2)],
        # Same last error as "full" but another task type: its own group.
        "resize": [failed_task(tenant, "resize_image", ("SMTPError", "mailbox full"))],
        # Last error differs from the first one: grouped by the last.
        "timeout": [failed_task(tenant, "send_email", ("SMTPError", "mailbox full"), ("TimeoutError", "slow"))],
    }


def groups_shown(body: str) -> dict[str, int]:
    rows = re.findall(r'<tr data-group-type="([^"]+)" data-group-count="(\d+)">\s*<th[^>]*>.*?</th>\s*'
                      r'<td class="error-cell"><code>([^<]*)</code>: ([^<]*)</td>', body, re.S)
    return {f"{t} {k}: {m}": int(n) for t, n, k, m in rows}


def test_dead_letter_groups_by_type_and_last_error(viewer: Any, dead_set: dict[str, list[Task]]) -> None:
    add_task(dead_set["full"][0].tenant, "send_email", status=Status.COMPLETED)  # not dead
    body = html(viewer.get("/dead-letter/"))
    assert groups_shown(body) == {
        "send_email SMTPError: mailbox full": 3,
        "send_email SMTPError: bad address": 2,
        "resize_image SMTPError: mailbox full": 1,
        "send_email TimeoutError: slow": 1,
    }
    assert "<strong>latest 5,000</strong> failed tasks" in body and "7 scanned" in body
    assert "acme, globex" in body


def test_dead_letter_without_error_history(viewer: Any, tenant: Tenant) -> None:
    add_task(tenant, "forced", status=Status.FAILED, errors=[])
    failed_task(tenant, "forced", ("ValueError", "x"))
    body = html(viewer.get("/dead-letter/"))
    assert "(no error recorded)" in body and groups_shown(body) == {"forced ValueError: x": 1}


def test_dead_letter_scan_is_bounded(viewer: Any, dead_set: dict[str, list[Task]],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadletter, "SCAN_LIMIT", 2)
    body = html(viewer.get("/dead-letter/"))
    assert sum(groups_shown(body).values()) == 2 and "2 scanned" in body


def test_requeue_one_group(operator: Any, dead_set: dict[str, list[Task]]) -> None:
    group = {"scope": "group", "type": "send_email", "error_type": "SMTPError", "error_message": "mailbox full"}
    confirm = html(operator.post("/dead-letter/requeue/", group))
    assert 'data-requeue-count="3"' in confirm
    assert statuses(*dead_set["full"]) == [Status.FAILED] * 3
    response = operator.post("/dead-letter/requeue/", {**group, "confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == "/dead-letter/"
    assert statuses(*dead_set["full"]) == [Status.PENDING] * 3
    assert statuses(*dead_set["address"], *dead_set["resize"], *dead_set["timeout"]) == [Status.FAILED] * 4
    assert "Requeued 3 dead-lettered task(s)." in html(operator.get("/dead-letter/"))


def test_requeue_all_dead(operator: Any, dead_set: dict[str, list[Task]], tenant: Tenant) -> None:
    cancelled = add_task(tenant, status=Status.CANCELLED, finished_at=timezone.now())
    assert 'data-requeue-count="7"' in html(operator.post("/dead-letter/requeue/", {"scope": "all"}))
    operator.post("/dead-letter/requeue/", {"scope": "all", "confirm": "yes"})
    assert not Task.objects.filter(status=Status.FAILED).exists()
    assert Task.objects.filter(status=Status.PENDING).count() == 7
    assert statuses(cancelled) == [Status.CANCELLED]
    assert operator.post("/dead-letter/requeue/", {"scope": "nope"}).status_code == 400


# --------------------------------------------------------------------------- analytics and types


@pytest.fixture
def history(tenant: Tenant, other_tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(weight=3)
    for _ in range(3):
        finish(add_task(tenant, "send_email", priority=5), Status.COMPLETED, wait_ms=1000, exec_ms=3000)
    finish(add_task(tenant, "resize_image", priority=1), Status.FAILED, wait_ms=1000, exec_ms=3000)
    finish(add_task(other_tenant, "send_email", priority=5), Status.COMPLETED, wait_ms=1000, exec_ms=3000)
    add_task(other_tenant, "send_email", priority=2)  # pending


def test_analytics_page(viewer: Any, history: None) -> None:
    body = html(viewer.get("/analytics/"))
    for chart_id in ("throughput-chart", "durations-chart", "status-chart", "priority-chart", "fairness-chart"):
        assert re.search(rf'<svg class="[^"]*" id="{chart_id}" role="img" aria-labelledby="{chart_id}-title '
                         rf'{chart_id}-desc"', body), chart_id
        assert f'<title id="{chart_id}-title">' in body and f'<desc id="{chart_id}-desc">' in body
    assert re.search(r'data-status="completed">.*?<td class="num">4</td><td class="num">66.7%</td>', body, re.S)
    assert re.search(r'data-metric="avg-wait">1 s<', body) and re.search(r'data-metric="avg-exec">3 s<', body)
    assert "4 completed, 1 failed, 0 cancelled" in body  # the throughput chart's text alternative
    assert "Queue wait: average 1 s" in body
    acme = re.search(r'<tr data-tenant="acme">(.*?)</tr>', body, re.S)
    globex = re.search(r'<tr data-tenant="globex">(.*?)</tr>', body, re.S)
    assert acme and globex
    assert re.findall(r'<td class="num"[^>]*>([^<]*)</td>', acme.group(1))[:4] == ["3", "75%", "3", "75%"]
    assert re.findall(r'<td class="num"[^>]*>([^<]*)</td>', globex.group(1))[:6] == ["1", "25%", "1", "25%", "0", "1"]


def test_analytics_scoped_to_a_tenant(viewer: Any, history: None) -> None:
    body = html(viewer.get("/analytics/", {"tenant": "globex", "window": "86400"}))
    assert re.search(r'data-status="completed">.*?<td class="num">1</td>', body, re.S)
    assert "Last 24 hours" in body and 'value="86400" selected' in body


def test_types_page_highlights_high_failure_rates(viewer: Any, tenant: Tenant) -> None:
    for status in (Status.COMPLETED, Status.FAILED):
        finish(add_task(tenant, "flaky_type"), status)
    for i in range(10):
        finish(add_task(tenant, "solid_type"), Status.FAILED if i == 0 else Status.COMPLETED)
    body = html(viewer.get("/types/"))
    assert '<tr data-type="flaky_type" class="alert">' in body
    assert '<tr data-type="solid_type">' in body
    assert "50% <span class=\"tag alert\">⚠ high</span>" in body and ">10%<" in body
    assert 'id="types-chart" role="img"' in body and '<text class="label alert"' in body


# --------------------------------------------------------------------------- tenants and keys


def test_tenants_list(viewer: Any, tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(weight=4, rate_limit=1500)
    keys.issue(tenant, name="one")
    body = html(viewer.get("/tenants/"))
    row = re.search(r'<tr data-tenant="acme">(.*?)</tr>', body, re.S)
    assert row and ">4<" in row.group(1) and "1,500 per 60 s" in row.group(1)
    assert re.search(r'<td class="num">1</td>', row.group(1))


def test_operator_edits_weight_and_rate_limit(operator: Any, tenant: Tenant) -> None:
    _, raw = keys.issue(tenant)
    assert keys.verify(raw) is not None  # cached, with the old limits
    response = operator.post(f"/tenants/{tenant.slug}/", {"weight": "5", "rate_limit": "100",
                                                          "rate_window_seconds": "30"})
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.weight, tenant.rate_limit, tenant.rate_window_seconds) == (5, 100, 30)
    verified = keys.verify(raw)
    assert verified is not None and verified.rate_limit == 100  # the cache was dropped
    bad = operator.post(f"/tenants/{tenant.slug}/", {"weight": "0", "rate_limit": "", "rate_window_seconds": ""})
    assert bad.status_code == 400 and 'role="alert"' in html(bad)
    tenant.refresh_from_db()
    assert tenant.weight == 5


def test_new_api_key_is_shown_once_and_only_its_hash_is_stored(operator: Any, tenant: Tenant) -> None:
    response = operator.post(f"/tenants/{tenant.slug}/keys/", {"name": "billing"})
    body = html(response)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    match = re.search(r'value="(jek_([0-9a-f]{12})_[A-Za-z0-9_-]{20,})"', body)
    assert match, body
    raw, prefix = match.groups()
    key = ApiKey.objects.get(tenant=tenant, name="billing")
    assert key.prefix == prefix and key.hashed == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {key.prefix, key.hashed, key.name}
    assert not key.is_operator and key.revoked_at is None
    verified = keys.verify(raw)
    assert verified is not None and verified.tenant_id == tenant.pk
    assert raw not in html(operator.get(f"/tenants/{tenant.slug}/"))  # never again
    assert f"jek_{prefix}_…" in html(operator.get(f"/tenants/{tenant.slug}/"))


def test_new_api_key_over_htmx(operator: Any, tenant: Tenant) -> None:
    response = operator.post(f"/tenants/{tenant.slug}/keys/", {"name": "ops", "is_operator": "on"},
                             headers={**HTMX, "HX-Target": "keys-panel"})
    body = html(response)
    assert "<html" not in body and body.lstrip().startswith('<section id="keys-panel"')
    match = re.search(r'value="(jek_[0-9a-f]{12}_[^"]+)"', body)
    assert match
    key = ApiKey.objects.get(name="ops")
    assert key.is_operator and key.hashed == keys.hash_secret(match.group(1))


def test_revoke_api_key(operator: Any, tenant: Tenant) -> None:
    key, raw = keys.issue(tenant, name="old")
    assert keys.verify(raw) is not None
    response = operator.post(f"/tenants/{tenant.slug}/keys/{key.pk}/revoke/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert keys.verify(raw) is None
    again = operator.post(f"/tenants/{tenant.slug}/keys/{key.pk}/revoke/", follow=True)
    assert "already revoked" in html(again)
    assert operator.post(f"/tenants/globex-missing/keys/{key.pk}/revoke/").status_code == 404


# --------------------------------------------------------------------------- overview and live fragments


def test_render_counters(tenant: Tenant) -> None:
    for _ in range(3):
        add_task(tenant)
    add_task(tenant, status=Status.SCHEDULED)
    add_task(tenant, status=Status.RUNNING)
    for _ in range(3):
        finish(add_task(tenant), Status.COMPLETED, wait_ms=1000, exec_ms=3000)
    finish(add_task(tenant), Status.FAILED, wait_ms=1000, exec_ms=3000)
    # Older history from the rollups (pruned tasks still count): 1,234 completed an hour ago.
    hour_ago = timezone.now() - timedelta(hours=2)
    rollups.record([rollups.Finished(tenant.pk, "noop", 3, Status.COMPLETED, hour_ago - timedelta(seconds=2),
                                 hour_ago - timedelta(seconds=1), hour_ago)] * 1230)
    fragment = live.render_counters()
    assert "\n" not in fragment
    assert counter(fragment, "pending") == "3"
    assert counter(fragment, "scheduled") == "1"
    assert counter(fragment, "running") == "1"
    assert counter(fragment, "completed") == "1,233"
    assert counter(fragment, "failed") == "1"
    assert counter(fragment, "cancelled") == "0"
    assert counter(fragment, "throughput") == "3/min"
    assert counter(fragment, "failure_rate") == "0.08%"  # 1 of 1,234
    assert counter(fragment, "queue_wait") == "1 s"  # every timed task waited 1 s
    assert counter(fragment, "execution") == "1 s"  # 1,230 × 1 s and 4 × 3 s ≈ 1.006 s


def test_render_workers(tenant: Tenant) -> None:
    busy = add_task(tenant, "send_email", status=Status.RUNNING)
    add_worker(101, slots=[slot(0, busy, running_s=90), slot(1)])
    add_worker(102, slots=[slot(0), slot(1)])
    add_worker(7, instance="host-b", slots=[slot(0)])
    add_worker(55, instance="host-dead", slots=[slot(0)], heartbeat_age=600)  # gone: not shown
    fragment = live.render_workers()
    assert "\n" not in fragment
    assert "3 worker processes on 2 instances" in fragment and "<strong>1</strong> of 5 slots busy" in fragment
    assert fragment.index("host-a") < fragment.index("Process 101") < fragment.index("Process 102") \
        < fragment.index("host-b") < fragment.index("Process 7")
    assert "host-dead" not in fragment
    busy_row = re.search(r'<tr class="slot busy">(.*?)</tr>', fragment)
    assert busy_row
    assert f'<a href="/tasks/{busy.pk}/">#{busy.pk}</a>' in busy_row.group(1)
    assert "send_email" in busy_row.group(1) and "acme" in busy_row.group(1) and "1.5 min" in busy_row.group(1)
    assert fragment.count('<tr class="slot idle">') == 4


def test_render_workers_empty(db: None) -> None:
    assert "No live worker processes" in live.render_workers()


def test_render_feed() -> None:
    changes = [
        {"seq": 12, "tenant": "acme", "event": "task.started", "task": 42, "type": "noop", "status": "running",
         "attempt": 1},
        {"seq": 13, "tenant": "acme", "event": "task.failed", "task": 42, "type": "noop", "status": "failed",
         "attempt": 1, "error": "<b>boom</b>"},
        {"seq": 11, "tenant": "globex", "event": "task.cancel_requested", "task": 7, "type": "sleep",
         "status": "running", "attempt": 2},
    ]
    fragment = live.render_feed(changes)
    assert "\n" not in fragment
    rows = re.findall(r'<li class="feed-row" data-seq="(\d+)">(.*?)</li>', fragment)
    assert [seq for seq, _ in rows] == ["13", "12", "11"]  # newest first, ready to prepend
    assert 'badge s-failed">failed</span> <a href="/tasks/42/">#42</a>' in rows[0][1]
    assert "&lt;b&gt;boom&lt;/b&gt;" in rows[0][1] and "<b>" not in fragment
    assert "attempt 1" in rows[0][1] and "acme" in rows[0][1]
    assert 'badge s-running">cancel requested</span>' in rows[2][1] and "globex" in rows[2][1]
    assert fragment.count("<time ") == 3
    many = live.render_feed([{"seq": i, "event": "task.completed", "task": i, "status": "completed"}
                             for i in range(80)])
    assert many.count("<li ") == live.FEED_LIMIT and 'data-seq="79"' in many and 'data-seq="29"' not in many
    assert live.render_feed([]) == ""
    # One outbox row holds several changes (one seq): the later change is the newer row.
    batch = live.render_feed([{"seq": 5, "event": "task.started", "task": 1, "status": "running"},
                              {"seq": 5, "event": "task.completed", "task": 1, "status": "completed"}])
    assert batch.index("completed</span>") < batch.index("started</span>")


def test_recent_changes_come_from_the_outbox(tenant: Tenant, other_tenant: Tenant) -> None:
    first = Event.objects.create(tenant=tenant, changes=[
        {"event": "task.created", "task": 1, "type": "noop", "status": "pending", "attempt": 0},
        {"event": "task.started", "task": 1, "type": "noop", "status": "running", "attempt": 1}])
    second = Event.objects.create(tenant=other_tenant, changes=[
        {"event": "task.completed", "task": 1, "type": "noop", "status": "completed", "attempt": 1}])
    changes = live.recent_changes()
    assert [(c["seq"], c["event"], c["tenant"]) for c in changes] == [
        (first.pk, "task.created", "acme"), (first.pk, "task.started", "acme"),
        (second.pk, "task.completed", "globex")]
    assert [c["event"] for c in live.recent_changes(limit=2)] == ["task.started", "task.completed"]
    rows = re.findall(r'badge s-\w+">([^<]+)</span>', live.render_feed(changes))
    assert rows == ["completed", "started", "created"]


def test_render_chart(tenant: Tenant) -> None:
    now = timezone.now()
    for status, n in ((Status.COMPLETED, 3), (Status.FAILED, 1)):
        for _ in range(n):
            finish(add_task(tenant), status, finished_at=now - timedelta(seconds=40))
    finish(add_task(tenant), Status.COMPLETED, finished_at=now - timedelta(hours=2))  # outside the window
    fragment = live.render_chart()
    assert "\n" not in fragment
    assert re.search(r'<svg class="chart" id="live-chart-svg" role="img" aria-labelledby="live-chart-svg-title '
                     r'live-chart-svg-desc"', fragment)
    assert "3 completed, 1 failed, 0 cancelled" in fragment
    assert "Peak 4" in fragment
    assert len(re.findall(r'<rect class="s-completed"', fragment)) == 1
    assert len(re.findall(r'<rect class="s-failed"', fragment)) == 1
    assert fragment.count('<g class="col">') == live.CHART_WINDOW // live.CHART_BUCKET
    assert "<table>" in fragment  # the data table alternative


def test_overview_page(viewer: Any, tenant: Tenant) -> None:
    add_task(tenant)
    Event.objects.create(tenant=tenant, changes=[{"event": "task.completed", "task": 99, "type": "noop",
                                                  "status": "completed", "attempt": 1}])
    body = html(viewer.get("/"))
    assert 'hx-ext="sse" sse-connect="/console/events"' in body
    for name in ("counters", "workers", "chart"):
        assert f'id="live-{name}" sse-swap="{name}"' in body
    assert 'id="live-feed" class="feed" sse-swap="feed" hx-swap="afterbegin"' in body
    assert counter(body, "pending") == "1"
    assert '<a href="/tasks/99/">#99</a>' in body
    assert 'id="live-chart-svg" role="img"' in body and "No live worker processes" in body
    assert "django_htmx/htmx-2.min.js" in body and "django_htmx/ext/hx-sse-2.min.js" in body
    assert "dashboard/console.js" in body and "dashboard/console.css" in body
    assert '<main id="main"' in body and 'aria-current="page">Overview' in body


def test_live_partials(viewer: Any, tenant: Tenant) -> None:
    add_task(tenant, status=Status.RUNNING)
    first = Event.objects.create(tenant=tenant, changes=[{"event": "task.started", "task": 1, "type": "noop",
                                                          "status": "running", "attempt": 1}])
    second = Event.objects.create(tenant=tenant, changes=[{"event": "task.completed", "task": 2, "type": "noop",
                                                           "status": "completed", "attempt": 1}])
    assert counter(html(viewer.get("/live/counters/")), "running") == "1"
    feed = html(viewer.get("/live/feed/", {"after": str(first.pk)}))
    assert f'data-seq="{second.pk}"' in feed and f'data-seq="{first.pk}"' not in feed
    assert html(viewer.get("/live/feed/", {"after": str(second.pk)})) == ""
    assert "<svg" in html(viewer.get("/live/chart/"))
    response = viewer.get("/live/workers/")
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]


# --------------------------------------------------------------------------- formatting, charts, assets


def test_formatting() -> None:
    assert formatting.number(1234567) == "1,234,567" and formatting.number(None) == "—"
    assert [formatting.duration_ms(v) for v in (0.5, 850, 1500, 12_000, 90_000, 7_200_000, 3 * 86_400_000)] == \
        ["0.5 ms", "850 ms", "1.5 s", "12 s", "1.5 min", "2 h", "3 d"]
    assert formatting.duration_ms(timedelta(seconds=2)) == "2 s" and formatting.duration_ms(None) == "—"
    assert [formatting.percent(v) for v in (0, 0.00004, 0.0004, 0.1234, 0.25, 1)] == \
        ["0%", "<0.01%", "0.04%", "12.3%", "25%", "100%"]
    tag = formatting.time_tag(datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC))
    assert tag == ('<time datetime="2030-05-06T07:08:09Z" data-fmt="datetime" title="2030-05-06 07:08:09 UTC">'
                   "2030-05-06 07:08:09 UTC</time>")


def test_chart_helpers() -> None:
    assert [charts.nice_max(v) for v in (0, 1, 3, 9, 11, 45, 999)] == [2, 2, 4, 10, 20, 60, 1000]
    rows = [charts.Row(label, [charts.Bar([(value, "s-completed", label)], str(value))])
            for label, value in (("a & b", 3), ("c", 1))]
    svg = charts.hbars(rows, chart_id="t", title="T <1>", desc="D")
    assert svg.startswith('<svg class="chart hchart" id="t" role="img" aria-labelledby="t-title t-desc"')
    assert "T &lt;1&gt;" in svg and "a &amp; b" in svg


def test_static_assets_are_found() -> None:
    for path in ("dashboard/console.css", "dashboard/console.js", "django_htmx/htmx-2.min.js",
                 "django_htmx/ext/hx-sse-2.min.js"):
        assert finders.find(path), path
