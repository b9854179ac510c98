"""The console as a browser-less client sees it: staff users, logged-in clients, and readers of the HTML."""

import re
from typing import Any

from django.contrib.auth.models import Permission, User
from django.test import Client

from jobs.models import Task

VIEW_PERMS = ["jobs.view_task", "tenants.view_tenant", "tenants.view_apikey"]

OPERATOR_PERMS = [*VIEW_PERMS, "jobs.change_task", "tenants.change_tenant", "tenants.add_apikey",
                  "tenants.change_apikey"]

HTMX = {"HX-Request": "true"}

PAGES = ["/", "/queues/", "/tasks/", "/dead-letter/", "/analytics/", "/types/", "/tenants/", "/live/counters/",
         "/live/workers/", "/live/health/", "/live/feed/", "/live/chart/", "/live/queues/", "/limits/", "/live/limits/"]

PASSWORD = "console-test-pw"  # noqa: S105 — a throwaway test account


def make_user(username: str, *, staff: bool = True, perms: list[str] | tuple[str, ...] = ()) -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=staff)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def html(response: Any) -> str:
    return response.content.decode()


def row_ids(response: Any) -> list[int]:
    """Task ids of the list's rows, in page order."""
    assert response.status_code == 200, response.status_code
    return [int(x) for x in re.findall(r'data-task-id="(\d+)"', html(response))]


def counter(fragment: str, key: str) -> str:
    """The shown value of one counter of the counters fragment."""
    match = re.search(rf'data-counter="{key}">\s*<dt>[^<]*</dt>\s*<dd class="value">([^<]*)</dd>', fragment)
    assert match, f"no counter {key!r} in {fragment[:500]}"
    return match.group(1)


def query_string(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(url.replace("&amp;", "&")).query))


def statuses(*tasks: Task) -> list[str]:
    """The stored status of each task, read afresh."""
    return [Task.objects.get(pk=t.pk).status for t in tasks]
