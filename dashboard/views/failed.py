"""The failed (dead-lettered) set, shown as "Dead letter": failures grouped by tenant, type and last
error; requeue (in the background: ``jobs.services.bulk``) or discard a group or everything, each
acting only on what its confirmation counted (``jobs.services.deadletter_actions``)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse

from jobs.models import Task
from jobs.services import deadletter, deadletter_actions, listing
from tenants.models import Tenant

from .. import access
from ..deadletter_forms import DeadLetterActionForm

#: Deleting dead-lettered tasks: a power of its own, beyond requeueing them.
DELETE_TASKS = "jobs.delete_task"
VERBS = {"requeue": "Requeue", "discard": "Discard"}


@access.page(*access.VIEW_TASKS)
def failed_tasks(request: HttpRequest) -> HttpResponse:
    slug = request.GET.get("tenant", "").strip()
    tenant = Tenant.objects.filter(slug=slug).first() if slug else None
    if slug and tenant is None:
        messages.error(request, f"No tenant “{slug}”: showing every tenant.")
    groups, scanned = deadletter.groups(tenant=tenant)
    failed = Task.objects.failed() if tenant is None else Task.objects.failed().filter(tenant=tenant)
    total, more = listing.bounded_count(failed, listing.ACTION_COUNT_CAP)
    return render(request, "dashboard/failed.html", {
        "section": "failed", "title": "Dead letter", "groups": groups, "scanned": scanned, "tenant": tenant,
        "tenants": Tenant.objects.order_by("slug"), "chosen": tenant,
        "scan_limit": deadletter.SCAN_LIMIT, "total": total, "more": more, "cap": listing.ACTION_COUNT_CAP,
    })


def _skipped(skip: deadletter_actions.Skipped) -> str:
    if not skip.total:
        return "nothing skipped"
    why = [f"{skip.arrived:,} failed after the confirmation" if skip.arrived else "",
           f"{skip.gone:,} no longer failed" if skip.gone else ""]
    return f"skipped {skip.total:,} ({', '.join(w for w in why if w)})"


def _act(request: HttpRequest, op: str) -> HttpResponse:
    """``op`` the selection: without ``confirm=yes`` count it and ask; with it act on what was counted."""
    form = DeadLetterActionForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(form.problem(), content_type="text/plain; charset=utf-8")
    selection = form.selection()
    back = reverse("dashboard:failed") + (f"?tenant={selection.tenant.slug}" if selection.tenant else "")
    if not form.confirmed:
        counted = deadletter.count(selection, listing.ACTION_COUNT_CAP)
        return render(request, "dashboard/failed_confirm.html", {
            "section": "failed", "title": f"Confirm {op}", "op": op, "verb": VERBS[op], "selection": selection,
            "counted": counted, "cap": listing.ACTION_COUNT_CAP, "back": back,
            "finished": counted.cutoff.finished.isoformat() if counted.cutoff.finished else "",
        })
    count = form.cleaned_data["count"] or 0
    if op == "discard":
        done = deadletter_actions.discard(selection, form.cutoff(), count)
        messages.success(request, f"Discarded {done.deleted:,} dead-lettered task{'s' * (done.deleted != 1)}; "
                                  f"{_skipped(done.skipped)}.")
        return redirect(back)
    started = deadletter_actions.requeue(selection, form.cutoff(), count)
    if not started.started.created:
        messages.info(request, "The same requeue is already under way: here is its progress.")
    else:
        messages.success(request, f"Requeueing {started.inside:,} dead-lettered task{'s' * (started.inside != 1)} "
                                  f"in the background; {_skipped(started.skipped)}.")
    return redirect("dashboard:bulk", started.started.bulk.pk)


@access.action(access.CHANGE_TASKS)
def failed_requeue(request: HttpRequest) -> HttpResponse:
    """``scope=group`` (type, error_type, error_message) or ``scope=all``, of ``tenant`` or all; ``confirm=yes``
    with the confirmation's ``upto``, ``finished`` and ``count`` starts it."""
    return _act(request, "requeue")


@access.action(DELETE_TASKS)
def failed_discard(request: HttpRequest) -> HttpResponse:
    """The same selection and confirmation as a requeue; deletes the tasks (audited)."""
    return _act(request, "discard")
