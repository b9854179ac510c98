"""Who may see and who may act.

Every page needs a staff login (anonymous visitors and non-staff users are sent to the
login page) plus the view permission of what it shows; every action is a POST that also
needs the matching change/add permission and answers 403 otherwise, changing nothing.
An htmx request without a login (an expired session, say) gets 401 and ``HX-Redirect`` to
the login page, so the browser goes there instead of pasting the login form into a panel.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import resolve_url
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


LOGIN_URL = "dashboard:login"


def staff_only(view: View) -> View:
    """``view`` for active staff; others go to the login page (an htmx request: 401 + ``HX-Redirect``)."""
    guarded = staff_member_required(view, login_url=LOGIN_URL)

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if request.headers.get("HX-Request") == "true" and not (user.is_active and user.is_staff):
            # Back to the page the browser shows (htmx names it), not to the fragment's URL.
            shown = urlsplit(request.headers.get("HX-Current-URL", ""))
            back = QueryDict(mutable=True)
            back["next"] = (shown.path + (f"?{shown.query}" if shown.query else "")) or request.get_full_path()
            response = HttpResponse("Your session has ended: log in again.", status=401,
                                    content_type="text/plain; charset=utf-8")
            response["HX-Redirect"] = f"{resolve_url(LOGIN_URL)}?{back.urlencode(safe='/')}"
            return response
        return guarded(request, *args, **kwargs)

    return wrapped


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

        return staff_only(require_http_methods(["GET", "HEAD"])(wrapped))

    return decorate


def action(perm: str) -> Callable[[View], View]:
    """A POST action for staff holding ``perm``; 403 (and nothing done) without it."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return staff_only(require_POST(wrapped))

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

        return staff_only(require_http_methods(["GET", "HEAD", "POST"])(wrapped))

    return decorate
