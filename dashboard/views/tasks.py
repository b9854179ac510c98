"""Tasks: the filtered list (keyset pages), the drill-down, cancel/requeue, and bulk actions with a confirmation."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from jobs import clock
from jobs.conf import conf
from jobs.exceptions import InvalidTransition
from jobs.lifecycle import LIVE, Action, Status
from jobs.models import Task
from jobs.registry import registry
from jobs.services import bulk, control, health, listing, scan, why
from jobs.shapes import error_entries
from tenants.models import Tenant

from .. import access, tasklist
from .common import htmx_target, is_htmx, safe_next


def row_context(task: Task, slug: str) -> dict[str, Any]:
    entries = error_entries(task.errors) if "errors" not in task.get_deferred_fields() else []
    return {"task": task, "tenant": slug, "actions": listing.task_actions(task),
            "last_error": entries[-1] if entries else None, "rev": tasklist.revision(task),
            "retrying": health.is_retrying(task)}


@access.page(*access.VIEW_TASKS)
def task_list(request: HttpRequest) -> HttpResponse:
    filters = tasklist.bind_filters(request.GET)
    qs = tasklist.filtered_tasks(filters)
    sort = tasklist.sort_of(request.GET)
    base = reverse("dashboard:tasks")
    pages: dict[str, Any]
    if sort in ("-started", "-duration"):
        sorted_page = tasklist.sorted_page(Task.objects.all(), qs, request.GET)
        rows, n = sorted_page.rows, sorted_page.number
        pages = {"page": sorted_page, "windowed": True, "first_url": f"{base}?{tasklist.filter_query(request.GET)}",
                 "next_url": f"{base}?{tasklist.filter_query(request.GET, page=n + 1)}"
                 if sorted_page.has_next else None,
                 "prev_url": f"{base}?{tasklist.filter_query(request.GET, page=n - 1)}" if n > 1 else None}
    else:
        page = tasklist.keyset_page(qs, request.GET)
        rows = page.rows
        pages = {"page": page, "first_url": f"{base}?{tasklist.filter_query(request.GET, after=None, before=None)}",
                 "next_url": f"{base}?{tasklist.filter_query(request.GET, after=page.next_after, before=None)}"
                 if page.next_after else None,
                 "prev_url": f"{base}?{tasklist.filter_query(request.GET, before=page.prev_before, after=None)}"
                 if page.prev_before else None}
    total, more = listing.bounded_count(qs, tasklist.TOTAL_CAP)
    slugs = dict(Tenant.objects.filter(pk__in={t.tenant_id for t in rows}).values_list("pk", "slug"))
    context = {
        "section": "tasks",
        "title": "Tasks",
        "form": filters.form,
        "rows": [row_context(t, slugs.get(t.tenant_id, "")) for t in rows],
        **pages,
        "total": total,
        "total_more": more,
        "sort": sort,
        "sorts": tasklist.SORTS,
        "sizes": tasklist.PAGE_SIZES,
        "size": tasklist.page_size(request.GET),
        "window_rows": scan.SCAN_ROWS,
        "filtered": bool(tasklist.active_filters(filters)),
        "filter_items": [(k, v) for k in tasklist.FILTER_FIELDS for v in request.GET.getlist(k) if v != ""],
        "here": request.get_full_path(),
        "types": registry.names(),
        "zone": filters.form.zone_name,
    }
    if htmx_target(request) == "task-results":
        return render(request, "dashboard/tasks/_results.html", context)
    return render(request, "dashboard/tasks/list.html", context)


def _timeline(task: Task) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"kind": "enqueued", "at": task.created_at}]
    for entry in error_entries(task.errors):
        items.append({
            "kind": "error", "attempt": entry.get("attempt"), "at": entry["at"], "error_type": entry["type"],
            "message": entry["message"], "worker": entry["worker"], "traceback": entry.get("traceback") or "",
        })
    final: dict[str, Any] | None = None
    if task.status == Status.RUNNING:
        final = {"kind": "running", "attempt": task.attempts, "at": task.started_at, "worker": task.worker,
                 "lease": task.lease_expires_at, "cancel_requested": task.cancel_requested}
    elif task.status == Status.COMPLETED:
        final = {"kind": "completed", "attempt": task.attempts, "at": task.finished_at, "worker": task.worker,
                 "duration": task.execution_time}
    elif task.status == Status.CANCELLED:
        final = {"kind": "cancelled", "attempt": task.attempts, "at": task.finished_at, "worker": task.worker}
    elif task.status == Status.FAILED:
        final = {"kind": "failed", "attempt": task.attempts, "at": task.finished_at}
    elif task.status == Status.SCHEDULED:
        final = {"kind": "scheduled", "at": task.run_at, "retry": bool(task.errors), "reason": task.blocked_on,
                 "resource": task.resource}
    elif task.status in (Status.PENDING, Status.BLOCKED):
        final = {"kind": "pending", "at": task.run_at}
    if final:
        items.append(final)
    return items


def detail_context(task: Task) -> dict[str, Any]:
    now = clock.now()  # started_at and the lease are on the database's clock
    running_for = now - task.started_at if task.status == Status.RUNNING and task.started_at else None
    lease_left = (task.lease_expires_at - now) if task.lease_expires_at and task.status == Status.RUNNING else None
    return {
        "task": task,
        "actions": listing.task_actions(task),
        "timeline": _timeline(task),
        "queue_wait": task.queue_wait,
        "execution": task.execution_time,
        "running_for": running_for,
        "running_for_ms": round(running_for.total_seconds() * 1000) if running_for else None,
        "rev": tasklist.revision(task),
        "live": task.status in LIVE,
        "lease_left": lease_left,
        "lease_lapsed": lease_left is not None and lease_left < timedelta(0),
        "interrupted_limit": conf().MAX_INTERRUPTED,
        "why": why.explain(task),
        "retrying": health.is_retrying(task),
    }


@access.page(*access.VIEW_TASKS)
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(Task.objects.select_related("tenant"), pk=pk)
    context = {"section": "tasks", "title": f"Task {task.pk}", **detail_context(task),
               "next": request.GET.get("next") or ""}
    if htmx_target(request) in ("detail-panel", "task-detail"):
        return render(request, "dashboard/tasks/_detail.html", context)
    return render(request, "dashboard/tasks/detail.html", context)


def _after_action(request: HttpRequest, pk: int) -> HttpResponse:
    target = htmx_target(request)
    if target:
        task = get_object_or_404(Task.objects.select_related("tenant"), pk=pk)
        if target == f"task-row-{pk}":
            return render(request, "dashboard/tasks/_row.html",
                          {"row": row_context(task, task.tenant.slug), "here": safe_next(request, ""), "oob": True})
        return render(request, "dashboard/tasks/_detail.html",
                      {**detail_context(task), "oob": True, "next": safe_next(request, "")})
    return redirect(safe_next(request, reverse("dashboard:task", args=[pk])))


def _act(request: HttpRequest, pk: int, verb: str, op: Callable[[int], Task]) -> HttpResponse:
    get_object_or_404(Task.objects.only("pk"), pk=pk)
    try:
        task = op(pk)
    except InvalidTransition as exc:
        messages.error(request, f"Task {pk} is {exc.status}: it cannot be {verb}.")
    else:
        if task.status == Status.RUNNING:
            messages.success(request, f"Asked running task {pk} to stop; its worker records it as cancelled.")
        elif verb == "cancelled":
            messages.success(request, f"Task {pk} cancelled.")
        else:
            messages.success(request, f"Task {pk} requeued with fresh attempts.")
    return _after_action(request, pk)


@access.action(access.CHANGE_TASKS)
def task_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "cancelled", control.cancel)


@access.action(access.CHANGE_TASKS)
def task_requeue(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "retried", control.requeue)


#: The bulk form's ``action`` values (``retry`` is the button's word for requeue).
BULK = {
    "cancel": {"verb": "cancel", "action": Action.CANCEL,
               "what": "waiting or running tasks", "button": "Cancel them"},
    "retry": {"verb": "retry", "action": Action.REQUEUE,
              "what": "failed or cancelled tasks", "button": "Retry them"},
}


@access.action(access.CHANGE_TASKS)
def task_bulk(request: HttpRequest) -> HttpResponse:
    """Step 1 shows how many tasks of the filtered set the action touches; step 2 (``confirm=yes``) acts."""
    op = request.POST.get("action", "")
    if op not in BULK:
        return HttpResponseBadRequest("action: must be cancel or retry")
    filters = tasklist.bind_filters(request.POST)
    back = f"{reverse('dashboard:tasks')}?{tasklist.filter_query(request.POST)}"
    if filters.errors:
        messages.error(request, "Fix the filters before a bulk action.")
        return HttpResponseClientRedirect(back) if is_htmx(request) else redirect(back)
    qs = tasklist.filtered_tasks(filters)
    spec = BULK[op]
    if request.POST.get("confirm") != "yes":
        # Fix the set at what exists now: tasks enqueued after this step are left alone.
        upto = qs.order_by("-id").values_list("id", flat=True).first()
        count, more = listing.bounded_count(listing.actionable(qs, spec["action"]), listing.ACTION_COUNT_CAP)
        context = {
            "section": "tasks", "title": f"Confirm bulk {op}", "op": op, "spec": spec, "count": count,
            "more": more, "cap": listing.ACTION_COUNT_CAP, "upto": upto or 0,
            "description": tasklist.describe(filters),
            "filter_items": [(k, v) for k in tasklist.FILTER_FIELDS for v in request.POST.getlist(k) if v != ""],
            "back": back,
        }
        template = "dashboard/tasks/_bulk_confirm.html" if is_htmx(request) else "dashboard/tasks/bulk_confirm.html"
        return render(request, template, context)
    started = bulk.start(op, filter=tasklist.filter_spec(filters), tenant=None,
                         cutoff_id=listing.int_or_none(request.POST.get("upto")) or 0,
                         expected=listing.int_or_none(request.POST.get("count")) or 0)
    if not started.created:
        messages.info(request, "The same action is already under way: here is its progress.")
    where = reverse("dashboard:bulk", args=[started.bulk.pk])
    return HttpResponseClientRedirect(where) if is_htmx(request) else redirect(where)
