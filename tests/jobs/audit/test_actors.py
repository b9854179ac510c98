"""Who each request acts as: the console's and the admin's user from the client's address, the API's key,
an anonymous caller; under the ASGI handler (the product's server) as under WSGI; reset when it ends."""

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client, RequestFactory

from engine_site.actors import request_actor
from jobs import actor
from tenants.models import Tenant
from tests.support.api import Caller
from tests.support.audit import only
from tests.support.builders import add_task
from tests.support.console import OPERATOR_PERMS, make_user

pytestmark = pytest.mark.django_db


def test_each_source_and_the_address_behind_the_proxies(settings: object) -> None:
    factory = RequestFactory()
    user = make_user("opal")
    assert request_actor(factory.get("/tasks/", REMOTE_ADDR="10.1.1.1"), user) == \
        actor.Actor("user", "opal", "console", "10.1.1.1")
    assert request_actor(factory.get("/admin/"), user).source == "admin"
    assert request_actor(factory.get("/api/tasks"), None) == actor.Actor("key", "", "api", "127.0.0.1")
    settings.LOGIN_PROXY_COUNT = 1  # type: ignore[attr-defined]
    behind = factory.get("/tasks/", REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR="198.51.100.4")
    assert request_actor(behind, None) == actor.Actor("user", "anonymous", "console", "198.51.100.4")


def test_the_asgi_handler_acts_as_the_user_too(acme: Tenant) -> None:
    task = add_task(acme)
    client = AsyncClient()
    async_to_sync(client.aforce_login)(make_user("opal", perms=OPERATOR_PERMS))
    response = async_to_sync(client.post)(f"/tasks/{task.pk}/cancel/")
    assert response.status_code == 302
    only("task.cancel", actor="opal", source="console")
    assert actor.current() == actor.ENGINE


def test_a_console_request_after_an_admin_one_is_itself(acme: Tenant, admin: Client, operator: Client) -> None:
    first, second = add_task(acme), add_task(acme)
    admin.post("/admin/jobs/task/", {"action": "cancel_tasks", "_selected_action": [str(first.pk)]})
    operator.post(f"/tasks/{second.pk}/cancel/")
    only("tasks.cancel", actor="root", source="admin")
    only("task.cancel", actor="opal", source="console")
    assert actor.current() == actor.ENGINE


def test_the_asgi_handler_acts_as_the_api_key(api: Caller) -> None:
    task = add_task(api.tenant)
    client = AsyncClient()
    response = async_to_sync(client.post)(f"/api/tasks/{task.pk}/cancel", headers={"X-API-Key": api.raw})
    assert response.status_code == 200, response.content
    only("task.cancel", actor_kind="key", actor=api.key.prefix, source="api", address="127.0.0.1")
    assert actor.current() == actor.ENGINE
