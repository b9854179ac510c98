"""The task list's rows and the task page kept live: the browser polls with what it shows (each task's
revision, ``tasklist.revision``) and gets back only what changed, so an unchanged page costs one
primary-key read and no re-render, and the operator's focus and selection are left alone."""

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string

from jobs.models import Task
from jobs.services import listing
from tenants.models import Tenant

from .. import access, tasklist
from .tasks import detail_context, row_context


def _shown(raw: str) -> dict[int, str] | None:
    """``12:pending.0.1,13:running.0.2`` → {12: "pending.0.1", …}; ``None`` when malformed."""
    shown: dict[int, str] = {}
    for item in (part for part in raw.split(",") if part):
        pk, _, rev = item.partition(":")
        number = listing.int_or_none(pk)
        if number is None or not rev or len(rev) > 64:
            return None
        shown[number] = rev
    return shown if 0 < len(shown) <= tasklist.MAX_PAGE_SIZE else None


@access.page(*access.VIEW_TASKS)
def task_rows_live(request: HttpRequest) -> HttpResponse:
    shown = _shown(request.GET.get("rows", ""))
    if shown is None:
        return HttpResponseBadRequest(f"rows: 1 to {tasklist.MAX_PAGE_SIZE} id:revision pairs")
    tasks = [t for t in Task.objects.filter(pk__in=shown).only(*tasklist.LIST_COLUMNS)
             if tasklist.revision(t) != shown[t.pk]]
    if not tasks:
        return HttpResponse(status=204)
    slugs = dict(Tenant.objects.filter(pk__in={t.tenant_id for t in tasks}).values_list("pk", "slug"))
    here = request.GET.get("here", "")
    rows = [render_to_string("dashboard/tasks/_row.html",
                             {"row": row_context(t, slugs.get(t.tenant_id, "")), "here": here}, request=request)
            for t in tasks]
    # <template> keeps the <tr>s intact outside a table; the script swaps each in by id.
    return HttpResponse(f"<template>{''.join(rows)}</template>")


@access.page(*access.VIEW_TASKS)
def task_live(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(Task.objects.select_related("tenant"), pk=pk)
    if tasklist.revision(task) == request.GET.get("rev"):
        return HttpResponse(status=204)
    return render(request, "dashboard/tasks/_detail.html",
                  {**detail_context(task), "next": request.GET.get("next") or ""})
