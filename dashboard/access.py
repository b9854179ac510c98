"""Who may see and who may act.

Every page needs a staff login (anonymous visitors and non-staff users are sent to the
login page) plus the view permission of what it shows; every action is a POST that also
needs the matching change/add permission and answers 403 otherwise, changing nothing.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods, require_POST

from tenants.keys import OPERATOR_PERMISSION

View = Callable[..., HttpResponse]

#: Seeing tasks, analytics and workers.
VIEW_TASKS = ("jobs.view_task", "jobs.change_task")
#: Cancel, retry, requeue (single and bulk).
CHANGE_TASKS = "jobs.change_task"
VIEW_TENANTS = ("tenants.view_tenant", "tenants.change_tenant")
CHANGE_TENANT = "tenants.change_tenant"
VIEW_KEYS = ("tenants.view_apikey", "tenants.change_apikey", "tenants.add_apikey")
ADD_KEY = "tenants.add_apikey"
ISSUE_OPERATOR_KEY = OPERATOR_PERMISSION
CHANGE_KEY = "tenants.change_apikey"
#: Recurring schedules: see them; add, change, pause, run now, delete.
VIEW_SCHEDULES = ("jobs.view_schedule", "jobs.change_schedule")
CHANGE_SCHEDULES = "jobs.change_schedule"
#: The operator audit log (read-only for everyone: nothing in the product changes it).
VIEW_AUDIT = "jobs.view_auditentry"


def can_any(user: Any, perms: tuple[str, ...]) -> bool:
    return any(user.has_perm(p) for p in perms)


def page(*perms: str) -> Callable[[View], View]:
    """A GET page for staff holding any of ``perms`` (no perms given: any staff)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if perms and not can_any(request.user, perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        guarded = staff_member_required(require_http_methods(["GET", "HEAD"])(wrapped), login_url="dashboard:login")
        return guarded

    return decorate


def action(perm: str) -> Callable[[View], View]:
    """A POST action for staff holding ``perm``; 403 (and nothing done) without it."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return staff_member_required(require_POST(wrapped), login_url="dashboard:login")

    return decorate


def page_or_action(view_perms: tuple[str, ...], change_perm: str) -> Callable[[View], View]:
    """GET shows the page (``view_perms``); POST acts (``change_perm``, else 403)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            needed = (change_perm,) if request.method == "POST" else view_perms
            if not can_any(request.user, needed):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return staff_member_required(require_http_methods(["GET", "HEAD", "POST"])(wrapped),
                                     login_url="dashboard:login")

    return decorate
