"""Act on the task list's selected rows: each row through the one-task action (fenced and audited
like the row's own button), and a tally of what was done and what was skipped, and why."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse

from jobs.exceptions import InvalidTransition
from jobs.models import Task
from jobs.services import control, listing

from .. import access, tasklist
from .common import is_htmx, safe_next

OPS: dict[str, tuple[str, Callable[[int], Task]]] = {"cancel": ("cancelled", control.cancel),
                                                     "retry": ("requeued", control.requeue)}


@access.action(access.CHANGE_TASKS)
def tasks_selected(request: HttpRequest) -> HttpResponse:
    op = request.POST.get("action", "")
    if op not in OPS:
        return HttpResponseBadRequest("action: must be cancel or retry")
    raw = request.POST.getlist("ids")
    ids = [listing.int_or_none(v) for v in raw]
    if not raw or None in ids or len(raw) > tasklist.MAX_PAGE_SIZE:
        return HttpResponseBadRequest(f"ids: between 1 and {tasklist.MAX_PAGE_SIZE} task ids")
    verb, act = OPS[op]
    done: list[int] = []
    skipped: list[tuple[int, str]] = []
    for pk in dict.fromkeys(i for i in ids if i is not None):
        try:
            act(pk)
        except Task.DoesNotExist:
            skipped.append((pk, "no longer exists"))
        except InvalidTransition as exc:
            skipped.append((pk, f"is {exc.status}"))
        else:
            done.append(pk)
    if not is_htmx(request):
        return redirect(safe_next(request, reverse("dashboard:tasks")))
    response = render(request, "dashboard/tasks/_selected.html",
                      {"verb": verb, "done": done, "skipped": skipped})
    # The results section reloads itself on this event, so every row shows its new state.
    response["HX-Trigger"] = "tasks-changed"
    return response
