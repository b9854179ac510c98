"""Bulk actions running in the background: the recent ones, one with its live progress, and stop."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string

from jobs.exceptions import InvalidTransition
from jobs.models import BulkAction, Task
from jobs.services import bulk, control

from .. import access
from .common import fragment, is_htmx

RECENT = 50
LABELS = {BulkAction.Kind.CANCEL: "Cancel matching tasks", BulkAction.Kind.RETRY: "Retry matching tasks",
          BulkAction.Kind.REQUEUE_DEAD: "Requeue a dead-letter group"}


def _context(action: BulkAction) -> dict[str, object]:
    state = bulk.state_of(action)
    total = max(action.expected, action.done)
    return {"bulk": action, "state": state, "label": LABELS.get(BulkAction.Kind(action.kind), action.kind),
            "finished": state in bulk.FINAL, "percent": round(100 * action.done / total) if total else 100,
            "who": action.actor.get("name", "engine")}


@access.page(*access.VIEW_TASKS)
def bulk_list(request: HttpRequest) -> HttpResponse:
    rows = list(BulkAction.objects.select_related("task", "tenant")[:RECENT])
    return render(request, "dashboard/bulk/list.html", {
        "section": "tasks", "title": "Bulk actions", "rows": [_context(r) for r in rows]})


@access.page(*access.VIEW_TASKS)
def bulk_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The page; an htmx poll gets the progress card alone (it stops polling once finished)."""
    action = get_object_or_404(BulkAction.objects.select_related("task", "tenant"), pk=pk)
    context = {"section": "tasks", "title": f"Bulk action {pk}", **_context(action)}
    if is_htmx(request):
        return fragment(render_to_string("dashboard/bulk/_progress.html", context, request=request))
    return render(request, "dashboard/bulk/detail.html", context)


@access.action(access.CHANGE_TASKS)
def bulk_stop(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop a bulk action between two batches (what it changed stays changed)."""
    action = get_object_or_404(BulkAction, pk=pk)
    try:
        if action.task_id is None:
            raise Task.DoesNotExist
        control.cancel(action.task_id)
        messages.success(request, "Asked the bulk action to stop after its current batch.")
    except (Task.DoesNotExist, InvalidTransition):
        messages.info(request, "The bulk action has already ended.")
    return redirect("dashboard:bulk", pk)
