"""The Queues page: depth, oldest waiting age and pause state per queue and per type; pause and resume.

Pausing a queue or a type needs ``jobs.change_task`` (it stops tasks from starting, like a cancel
stops them); a tenant's pause, from the tenants page, ``tenants.change_tenant``.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe

from jobs.services import pauses
from tenants.models import Tenant

from .. import access, formatting, live, queuepanel
from .common import fragment, htmx_target, safe_next

#: The stream's panels for this page (``dashboard.stream``): only the queues table.
SSE_URL = f"{live.SSE_URL}?panels=queues"
QUEUE_KINDS = ("queue", "type")


def _can_act(request: HttpRequest) -> bool:
    return bool(request.user.has_perm(access.CHANGE_TASKS))


def _table(request: HttpRequest) -> str:
    return live.one_line(render_to_string("dashboard/live/_queues.html",
                                          queuepanel.queues_context(can_act=_can_act(request)), request=request))


@access.page(*access.VIEW_TASKS)
def queues_page(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/queues.html", {
        "section": "queues", "title": "Queues", "sse_url": SSE_URL, "can_act": _can_act(request),
        # Our own template, autoescaped: the same fragment the SSE stream pushes.
        "queues_html": mark_safe(_table(request)),  # noqa: S308
    })


@access.page(*access.VIEW_TASKS)
def live_queues(request: HttpRequest) -> HttpResponse:
    return fragment(_table(request))


def _by(request: HttpRequest) -> str:
    return f"console {request.user.get_username()}"


def _answer(request: HttpRequest) -> HttpResponse:
    """htmx: the fresh table plus the messages (out of band); else back to the page."""
    if htmx_target(request) == "live-queues":
        oob = render_to_string("dashboard/_messages.html", {"oob": True}, request=request)
        return fragment(_table(request) + oob)
    return redirect(safe_next(request, reverse("dashboard:queues")))


def _reason(request: HttpRequest) -> str:
    details = getattr(request, "htmx", None)
    prompt = details.prompt if details else None  # hx-prompt's answer
    return request.POST.get("reason") or prompt or ""


@access.action(access.CHANGE_TASKS)
def queue_pause(request: HttpRequest) -> HttpResponse:
    kind, value = request.POST.get("kind", ""), request.POST.get("value", "")
    if kind not in QUEUE_KINDS:
        return HttpResponseBadRequest("kind: must be queue or type")
    try:
        info, created = pauses.pause(kind, value, reason=_reason(request), by=_by(request))
    except pauses.InvalidPause as exc:
        messages.error(request, f"Not paused: {exc.field}: {exc.message}")
        return _answer(request)
    what = "Paused" if created else "Already paused; updated the reason of"
    messages.success(request, f"{what} {kind} {info.value}: nothing new of it starts (running tasks finish).")
    return _answer(request)


@access.action(access.CHANGE_TASKS)
def queue_resume(request: HttpRequest) -> HttpResponse:
    kind, value = request.POST.get("kind", ""), request.POST.get("value", "")
    if kind not in QUEUE_KINDS:
        return HttpResponseBadRequest("kind: must be queue or type")
    try:
        n = pauses.resume(kind, value)
    except pauses.NotPaused:
        messages.info(request, f"The {kind} {value} was not paused.")
    else:
        messages.success(request, f"Resumed {kind} {value}: {formatting.number(n)} parked task(s) are pending again.")
    return _answer(request)


@access.action(access.CHANGE_TENANT)
def tenant_pause(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_object_or_404(Tenant, slug=slug)
    try:
        info, created = pauses.pause("tenant", tenant.slug, reason=_reason(request), by=_by(request))
    except pauses.InvalidPause as exc:
        messages.error(request, f"Not paused: {exc.field}: {exc.message}")
        return redirect(safe_next(request, reverse("dashboard:tenants")))
    messages.success(request, f"{'Paused' if created else 'Already paused; updated'} tenant {info.value}: "
                              "none of its tasks start until it is resumed (running ones finish).")
    return redirect(safe_next(request, reverse("dashboard:tenants")))


@access.action(access.CHANGE_TENANT)
def tenant_resume(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_object_or_404(Tenant, slug=slug)
    try:
        pauses.resume("tenant", tenant.slug)
    except pauses.NotPaused:
        messages.info(request, f"Tenant {tenant.slug} was not paused.")
    else:
        messages.success(request, f"Resumed tenant {tenant.slug}: its tasks start again.")
    return redirect(safe_next(request, reverse("dashboard:tenants")))
