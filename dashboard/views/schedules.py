"""The Schedules pages: every schedule with its next and last run, its outcome and drift; a schedule's
recent ticks; add, edit, pause, resume, run now and delete (``jobs.services.schedules``, audited as the
console user). Seeing needs ``jobs.view_schedule`` (or change); acting ``jobs.change_schedule``."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from jobs import actor
from jobs.exceptions import InvalidTask
from jobs.models import Schedule
from jobs.services import schedules

from .. import access
from ..schedule_form import ScheduleForm


def _as_user(request: HttpRequest) -> actor.Actor:
    return actor.user(request.user.get_username(), source="console", address=actor.current().address)


def _find(name: str) -> Schedule:
    try:
        return schedules.find(name)
    except schedules.ScheduleNotFound:
        raise Http404(f"No schedule {name!r}") from None


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {"section": "schedules", "can_act": request.user.has_perm(access.CHANGE_SCHEDULES), **extra}


@access.page(*access.VIEW_SCHEDULES)
def schedule_list(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/schedules/list.html", _context(request, title="Schedules",
                                                                      rows=schedules.rows()))


@access.page(*access.VIEW_SCHEDULES)
def schedule_detail(request: HttpRequest, name: str) -> HttpResponse:
    schedule = _find(name)
    row = schedules.rows(Schedule.objects.filter(pk=schedule.pk))[0]
    return render(request, "dashboard/schedules/detail.html", _context(
        request, title=f"Schedule {name}", row=row, schedule=row.schedule, ticks=schedules.recent_ticks(schedule)))


def _form_page(request: HttpRequest, form: ScheduleForm, schedule: Schedule | None, status: int = 200) -> HttpResponse:
    return render(request, "dashboard/schedules/form.html", _context(
        request, title=f"Edit schedule {schedule.name}" if schedule else "Add a schedule", form=form,
        schedule=schedule), status=status)


def _save(request: HttpRequest, form: ScheduleForm, save: Callable[[dict[str, Any]], Schedule],
          schedule: Schedule | None) -> HttpResponse:
    if form.is_valid():
        try:
            with actor.acting(_as_user(request)):
                saved = save(form.definition())
        except InvalidTask as exc:
            form.put_error(exc.field, exc.message)
        else:
            messages.success(request, f"Saved schedule {saved.name}: {schedules.expression(saved)} "
                                      f"({saved.timezone}).")
            return redirect("dashboard:schedule", name=saved.name)
    return _form_page(request, form, schedule, status=400)


@access.page_or_action(access.VIEW_SCHEDULES, access.CHANGE_SCHEDULES)
def schedule_add(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _form_page(request, ScheduleForm(), None)
    form = ScheduleForm(request.POST)
    return _save(request, form, lambda data: schedules.create(form.cleaned_data["name"], data), None)


@access.page_or_action(access.VIEW_SCHEDULES, access.CHANGE_SCHEDULES)
def schedule_edit(request: HttpRequest, name: str) -> HttpResponse:
    schedule = _find(name)
    if request.method != "POST":
        return _form_page(request, ScheduleForm.of(schedule), schedule)
    form = ScheduleForm(request.POST, editing=True, initial={"name": schedule.name})
    return _save(request, form, lambda data: schedules.update(name, data), schedule)


#: The buttons of a schedule's page: the service's function and what the message says.
ACTIONS: dict[str, Callable[[str], Any]] = {
    "pause": schedules.pause, "resume": schedules.resume, "run": schedules.run_now, "delete": schedules.delete,
}


@access.action(access.CHANGE_SCHEDULES)
def schedule_action(request: HttpRequest, name: str, verb: str) -> HttpResponse:
    if verb not in ACTIONS:
        raise Http404(f"No action {verb!r}")
    _find(name)
    try:
        with actor.acting(_as_user(request)):
            result = ACTIONS[verb](name)
    except (InvalidTask, schedules.ScheduleNotFound) as exc:
        messages.error(request, f"Schedule {name}: {exc}")
        return redirect("dashboard:schedule", name=name)
    if verb == "delete":
        messages.success(request, f"Deleted schedule {name}.")
        return redirect(reverse("dashboard:schedules"))
    if verb == "run":
        if result.error:
            messages.error(request, f"Fired schedule {name}, but no task was enqueued: {result.error}")
        else:
            messages.success(request, f"Fired schedule {name}: task {result.task_id}.")
    else:
        messages.success(request, f"{'Paused' if verb == 'pause' else 'Resumed'} schedule {name}.")
    return redirect("dashboard:schedule", name=name)
