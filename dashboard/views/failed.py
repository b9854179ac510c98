"""The failed (dead-lettered) set, shown as "Dead letter": failures grouped by type and last
error; requeue a group or everything."""

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse

from jobs.models import Task
from jobs.services import control, deadletter, listing

from .. import access
from . import tasks


@access.page(*access.VIEW_TASKS)
def failed_tasks(request: HttpRequest) -> HttpResponse:
    groups, scanned = deadletter.groups()
    total, more = listing.bounded_count(Task.objects.failed(), listing.ACTION_COUNT_CAP)
    return render(request, "dashboard/failed.html", {
        "section": "failed", "title": "Dead letter", "groups": groups, "scanned": scanned,
        "scan_limit": deadletter.SCAN_LIMIT, "total": total, "more": more, "cap": listing.ACTION_COUNT_CAP,
    })


@access.action(access.CHANGE_TASKS)
def failed_requeue(request: HttpRequest) -> HttpResponse:
    """``scope=group`` (type, error_type, error_message) or ``scope=all``; ``confirm=yes`` acts."""
    scope = request.POST.get("scope")
    if scope not in ("group", "all"):
        return HttpResponseBadRequest("scope: must be group or all")
    key = (request.POST.get("type", ""), request.POST.get("error_type", ""), request.POST.get("error_message", ""))
    if scope == "group" and not key[0]:
        return HttpResponseBadRequest("type: required for a group")
    back = reverse("dashboard:failed")
    if request.POST.get("confirm") != "yes":
        if scope == "group":
            count, more = deadletter.count_group(*key, cap=listing.ACTION_COUNT_CAP)
        else:
            count, more = listing.bounded_count(Task.objects.failed(), listing.ACTION_COUNT_CAP)
        group = deadletter.Group(*key) if scope == "group" else None
        return render(request, "dashboard/failed_confirm.html", {
            "section": "failed", "title": "Confirm requeue", "scope": scope, "group": group, "count": count,
            "more": more, "cap": listing.ACTION_COUNT_CAP, "back": back,
        })
    done = deadletter.requeue_group(*key) if scope == "group" else control.requeue_charged(Task.objects.failed())
    tasks.report_requeue(request, done, "dead-lettered task(s)")
    return redirect(back)
