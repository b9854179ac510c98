"""The failed (dead-lettered) set, shown as "Dead letter": failures grouped by type and last
error; requeue a group or everything (in the background: ``jobs.services.bulk``)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse

from jobs.models import BulkAction, Task
from jobs.services import bulk, deadletter, listing

from .. import access


@access.page(*access.VIEW_TASKS)
def failed_tasks(request: HttpRequest) -> HttpResponse:
    groups, scanned = deadletter.groups()
    total, more = listing.bounded_count(Task.objects.failed(), listing.ACTION_COUNT_CAP)
    return render(request, "dashboard/failed.html", {
        "section": "failed", "title": "Dead letter", "groups": groups, "scanned": scanned,
        "scan_limit": deadletter.SCAN_LIMIT, "total": total, "more": more, "cap": listing.ACTION_COUNT_CAP,
    })


#: "Requeue all" is a retry of every failed task; a group is a dead-letter requeue of that group.
ALL_FAILED = {"status": "failed"}


@access.action(access.CHANGE_TASKS)
def failed_requeue(request: HttpRequest) -> HttpResponse:
    """``scope=group`` (type, error_type, error_message) or ``scope=all``; ``confirm=yes`` starts it."""
    scope = request.POST.get("scope")
    if scope not in ("group", "all"):
        return HttpResponseBadRequest("scope: must be group or all")
    key = (request.POST.get("type", ""), request.POST.get("error_type", ""), request.POST.get("error_message", ""))
    if scope == "group" and not key[0]:
        return HttpResponseBadRequest("type: required for a group")
    kind, selection = ((BulkAction.Kind.REQUEUE_DEAD, dict(zip(bulk.GROUP_FIELDS, key, strict=True)))
                       if scope == "group" else (BulkAction.Kind.RETRY, ALL_FAILED))
    back = reverse("dashboard:failed")
    if request.POST.get("confirm") != "yes":
        upto, count, more = bulk.cutoff(kind, selection, None)
        group = deadletter.Group(*key) if scope == "group" else None
        return render(request, "dashboard/failed_confirm.html", {
            "section": "failed", "title": "Confirm requeue", "scope": scope, "group": group, "count": count,
            "more": more, "cap": listing.ACTION_COUNT_CAP, "back": back, "upto": upto,
        })
    started = bulk.start(kind, filter=selection, tenant=None,
                         cutoff_id=listing.int_or_none(request.POST.get("upto")) or 0,
                         expected=listing.int_or_none(request.POST.get("count")) or 0)
    if not started.created:
        messages.info(request, "The same requeue is already under way: here is its progress.")
    return redirect("dashboard:bulk", started.bulk.pk)
