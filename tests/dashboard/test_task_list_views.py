"""The task list an operator works in: a bounded total, time presets, page sizes, sorts, the started /
duration / worker / last-error columns, worker and error filters, filters applied on submit, and
acting on selected rows (what was done, what was skipped and why)."""

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from dashboard import tasklist
from jobs.lifecycle import Status
from jobs.models import AuditEntry, Task
from tenants.models import Tenant
from tests.support.builders import add_task, error_entry
from tests.support.console import HTMX, html, query_string, row_ids

pytestmark = pytest.mark.django_db


def ran(tenant: Tenant, seconds: float, *, started_ago: float, **fields: Any) -> Task:
    now = timezone.now()
    start = now - timedelta(seconds=started_ago)
    return add_task(tenant, "work", status=Status.COMPLETED, started_at=start,
                    finished_at=start + timedelta(seconds=seconds), **fields)


def test_the_total_is_counted_up_to_a_cap(viewer: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(3):
        add_task(tenant, "a")
    assert re.search(r"data-total>3<", html(viewer.get("/tasks/")))
    monkeypatch.setattr(tasklist, "TOTAL_CAP", 2)
    assert re.search(r"data-total>2\+<", html(viewer.get("/tasks/")))


def test_worker_and_error_text_filters(viewer: Any, tenant: Tenant) -> None:
    on_a = add_task(tenant, "a", worker="host-a:10:w1")
    add_task(tenant, "a", worker="host-b:11:w1")
    boom = add_task(tenant, "a", status=Status.FAILED, errors=[error_entry(1, "ValueError", "disk quota exceeded")])
    add_task(tenant, "a", status=Status.FAILED, errors=[error_entry(1, "KeyError", "missing id")])
    assert row_ids(viewer.get("/tasks/", {"worker": "host-a"})) == [on_a.pk]
    assert row_ids(viewer.get("/tasks/", {"error": "QUOTA"})) == [boom.pk]


def test_time_presets_move_with_now_and_are_fixed_for_bulk_actions(viewer: Any, operator: Any,
                                                                    tenant: Tenant) -> None:
    old = add_task(tenant, "a", created_at=timezone.now() - timedelta(hours=2))
    new = add_task(tenant, "a")
    assert row_ids(viewer.get("/tasks/", {"within": "1h"})) == [new.pk]
    assert row_ids(viewer.get("/tasks/", {"within": "24h"})) == [new.pk, old.pk]
    assert "within" in html(viewer.get("/tasks/", {"within": "bogus"}))  # reported, not a 500
    filters = tasklist.bind_filters(query_dict({"within": "1h"}))
    spec = tasklist.filter_spec(filters)
    assert "within" not in spec and "created_after" in spec
    assert "created within = last hour" in tasklist.describe(filters)


def query_dict(data: dict[str, str]) -> Any:
    from django.http import QueryDict

    q = QueryDict(mutable=True)
    q.update(data)
    return q


def test_sorts_and_page_sizes(viewer: Any, tenant: Tenant) -> None:
    short = ran(tenant, 1, started_ago=30)
    long = ran(tenant, 20, started_ago=60)
    recent = ran(tenant, 5, started_ago=10)
    add_task(tenant, "never-started")
    assert row_ids(viewer.get("/tasks/", {"sort": "-duration"})) == [long.pk, recent.pk, short.pk]
    assert row_ids(viewer.get("/tasks/", {"sort": "-started"})) == [recent.pk, short.pk, long.pk]
    oldest = row_ids(viewer.get("/tasks/", {"sort": "created"}))
    assert oldest == sorted(oldest) and len(oldest) == 4
    # Pages of a windowed sort go by number and keep the sort and the size.
    first = viewer.get("/tasks/", {"sort": "-duration", "size": "2"})
    assert row_ids(first) == [long.pk, recent.pk]
    link = re.search(r'href="([^"]+)" rel="next"', html(first))
    assert link and query_string(link.group(1)) == {"sort": "-duration", "size": "2", "page": "2"}
    assert row_ids(viewer.get("/tasks/", query_string(link.group(1)))) == [short.pk]
    # Oldest first walks the keyset upwards.
    page = viewer.get("/tasks/", {"sort": "created", "size": "3"})
    nxt = re.search(r'href="([^"]+)" rel="next"', html(page))
    assert nxt and row_ids(viewer.get("/tasks/", query_string(nxt.group(1)))) == oldest[3:]
    assert 'value="100" selected' in html(viewer.get("/tasks/", {"size": "100"}))


def test_rows_show_started_duration_worker_and_last_error(viewer: Any, tenant: Tenant) -> None:
    task = ran(tenant, 2, started_ago=5, worker="host-a:10:w1",
               errors=[error_entry(1, "KeyError", "first"), error_entry(2, "TimeoutError", "took too long")])
    row = re.search(rf'<tr id="task-row-{task.pk}".*?</tr>', html(viewer.get("/tasks/")), re.S)
    assert row
    assert "host-a:10:w1" in row.group(0) and "TimeoutError: took too long" in row.group(0)
    assert '<td class="num">2 s</td>' in row.group(0), row.group(0)


def test_filters_apply_on_submit_only(viewer: Any) -> None:
    form = re.search(r'<form method="get" action="/tasks/"[^>]*>', html(viewer.get("/tasks/")))
    assert form and 'hx-trigger="submit"' in form.group(0)


def test_acting_on_selected_rows_reports_what_it_skipped(operator: Any, tenant: Tenant) -> None:
    waiting = add_task(tenant, "a")
    done = add_task(tenant, "a", status=Status.COMPLETED)
    response = operator.post("/tasks/selected/", {"action": "cancel", "ids": [waiting.pk, done.pk, 10**9]},
                             headers=HTMX)
    assert response.status_code == 200 and response["HX-Trigger"] == "tasks-changed"
    body = html(response)
    assert 'data-done="1"' in body and 'data-skipped="2"' in body
    assert f"#{done.pk}</a> is completed" in body and "no longer exists" in body
    assert Task.objects.get(pk=waiting.pk).status == Status.CANCELLED
    assert Task.objects.get(pk=done.pk).status == Status.COMPLETED
    assert list(AuditEntry.objects.filter(action="task.cancel").values_list("target", flat=True)) == [
        f"task {waiting.pk}"]


def test_selection_needs_the_change_permission_and_valid_ids(viewer: Any, operator: Any, tenant: Tenant) -> None:
    task = add_task(tenant, "a")
    assert viewer.post("/tasks/selected/", {"action": "cancel", "ids": [task.pk]}).status_code == 403
    assert Task.objects.get(pk=task.pk).status == Status.PENDING
    assert operator.post("/tasks/selected/", {"action": "cancel", "ids": ["x"]}).status_code == 400
    assert operator.post("/tasks/selected/", {"action": "cancel"}).status_code == 400
    assert operator.post("/tasks/selected/", {"action": "explode", "ids": [task.pk]}).status_code == 400
    too_many = [str(task.pk)] * (tasklist.MAX_PAGE_SIZE + 1)
    assert operator.post("/tasks/selected/", {"action": "cancel", "ids": too_many}).status_code == 400
    assert Task.objects.get(pk=task.pk).status == Status.PENDING


def test_live_rows_answer_only_what_changed(viewer: Any, tenant: Tenant) -> None:
    waiting = add_task(tenant, "a")
    running = add_task(tenant, "a", status=Status.RUNNING, attempts=1, started_at=timezone.now())
    body = html(viewer.get("/tasks/"))
    shown = dict(re.findall(r'data-task-id="(\d+)" data-status="[a-z]+" data-rev="([^"]+)"', body))
    rows = ",".join(f"{pk}:{rev}" for pk, rev in shown.items())
    assert viewer.get("/tasks/live/", {"rows": rows}).status_code == 204
    Task.objects.filter(pk=running.pk).update(status=Status.CANCELLED, finished_at=timezone.now())
    changed = html(viewer.get("/tasks/live/", {"rows": rows}))
    assert changed.startswith("<template>") and f'id="task-row-{running.pk}"' in changed
    assert f'id="task-row-{waiting.pk}"' not in changed and 'data-status="cancelled"' in changed
    for bad in ("", "x:1", f"{waiting.pk}:", ",".join(f"{i}:a" for i in range(tasklist.MAX_PAGE_SIZE + 1))):
        assert viewer.get("/tasks/live/", {"rows": bad}).status_code == 400


def test_a_live_task_page_reloads_when_its_task_changes(viewer: Any, tenant: Tenant) -> None:
    task = add_task(tenant, "a", status=Status.RUNNING, attempts=1,
                    started_at=timezone.now() - timedelta(seconds=90))
    page = html(viewer.get(f"/tasks/{task.pk}/"))
    rev = re.search(r'data-rev="([^"]+)" data-live-url="([^"]+)"', page)
    assert rev and rev.group(2) == f"/tasks/{task.pk}/live/"
    ticking = re.search(r'data-ticking-ms="(\d+)"', page)
    assert ticking and int(ticking.group(1)) >= 90_000  # "running for" ticks on from the server's figure
    assert viewer.get(rev.group(2), {"rev": rev.group(1)}).status_code == 204
    Task.objects.filter(pk=task.pk).update(status=Status.CANCELLED, finished_at=timezone.now())
    fresh = html(viewer.get(rev.group(2), {"rev": rev.group(1)}))
    assert 'badge s-cancelled' in fresh and "data-live-url" not in fresh  # final: the page stops polling
    assert viewer.get("/tasks/999999999/live/", {"rev": "x"}).status_code == 404
