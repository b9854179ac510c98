"""Tenant admission and queue fields (L10 and the caps) wherever tenants are edited: console, admin, commands, API;
and the console's editor of granted "listed" task types (M10)."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management.base import CommandError

from jobs.models import Task, TypeGrant
from jobs.registry import TaskType, registry
from tenants import queues
from tenants.models import Tenant
from tests.support.api import Caller, assert_problem
from tests.support.commands import run
from tests.support.console import OPERATOR_PERMS, PASSWORD, VIEW_PERMS, client_for, html, make_user

pytestmark = pytest.mark.django_db

LONG = "q" * 65


@pytest.fixture
def acme(db: None) -> Tenant:
    return Tenant.objects.create(name="Acme", slug="acme")


def admission(slug: str = "acme") -> tuple[int | None, int | None, list[str]]:
    t = Tenant.objects.get(slug=slug)
    return t.max_pending, t.max_pending_age_seconds, t.allowed_queues


def test_the_queue_width_is_the_task_columns() -> None:
    assert Task._meta.get_field("queue").max_length == queues.MAX_QUEUE_CHARS


# --------------------------------------------------------------------------- console

LIMITS = {"form": "limits", "weight": "1", "max_running": "", "rate_limit": "", "rate_window_seconds": ""}


def test_console_edits_the_admission_fields(acme: Tenant) -> None:
    staff = client_for(make_user("operator", perms=OPERATOR_PERMS))
    page = html(staff.get("/tenants/acme/"))
    assert 'name="max_pending"' in page and 'name="allowed_queues"' in page
    saved = staff.post("/tenants/acme/", {**LIMITS, "max_pending": "10", "max_pending_age_seconds": "60",
                                          "allowed_queues": " bulk, acme ,bulk"})
    assert saved.status_code == 302
    assert admission() == (10, 60, ["bulk", "acme"])
    assert 'value="bulk, acme"' in html(staff.get("/tenants/acme/"))
    staff.post("/tenants/acme/", {**LIMITS, "max_pending": "", "max_pending_age_seconds": "", "allowed_queues": ""})
    assert admission() == (None, None, [])


@pytest.mark.parametrize(("field", "value", "message"), [
    ("max_pending", "0", "greater than or equal to 1"),
    ("max_pending_age_seconds", "-5", "greater than or equal to"),
    ("allowed_queues", "a,,b", "non-empty"),
    ("allowed_queues", LONG, "longer than 64"),
])
def test_console_refuses_bad_admission_values(acme: Tenant, field: str, value: str, message: str) -> None:
    staff = client_for(make_user("operator", perms=OPERATOR_PERMS))
    response = staff.post("/tenants/acme/", {**LIMITS, field: value})
    assert response.status_code == 400
    assert message in html(response) and 'role="alert"' in html(response)
    assert admission() == (None, None, [])


def test_console_viewers_see_the_admission_fields_read_only(acme: Tenant) -> None:
    Tenant.objects.filter(pk=acme.pk).update(max_pending=7, allowed_queues=["bulk"])
    viewer = client_for(make_user("viewer", perms=VIEW_PERMS))
    page = html(viewer.get("/tenants/acme/"))
    assert 'name="max_pending"' not in page
    assert "data-max-pending>7<" in page and "data-allowed-queues>bulk<" in page
    assert viewer.post("/tenants/acme/", {**LIMITS, "max_pending": "1"}).status_code == 403
    assert admission()[0] == 7


# --------------------------------------------------------------------------- admin

ADMIN_FORM = {"name": "Acme", "slug": "acme", "weight": "1", "max_running": "", "active": "on",
              "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0"}


def test_admin_edits_the_admission_fields(acme: Tenant) -> None:
    root = client_for(User.objects.create_superuser("root", "root@example.com", PASSWORD))
    url = f"/admin/tenants/tenant/{acme.pk}/change/"
    response = root.post(url, {**ADMIN_FORM, "max_pending": "5", "max_pending_age_seconds": "30",
                               "allowed_queues": "x, y"})
    assert response.status_code == 302, html(response)[:3000]
    assert admission() == (5, 30, ["x", "y"])
    bad = root.post(url, {**ADMIN_FORM, "max_pending": "0", "allowed_queues": "x, y"})
    assert bad.status_code == 200 and "errorlist" in html(bad)
    bad = root.post(url, {**ADMIN_FORM, "allowed_queues": "ok, not,"})
    assert "non-empty" in html(bad)
    assert admission() == (5, 30, ["x", "y"])


# --------------------------------------------------------------------------- commands


def test_commands_set_and_clear_the_admission_fields(acme: Tenant) -> None:
    out = run("tenant", "acme", "--max-pending", "9", "--max-pending-age", "120", "--allowed-queues", "a,b")
    assert "max pending 9, max pending age 120 s, queues a, b" in out
    assert admission() == (9, 120, ["a", "b"])
    run("tenant", "acme", "--max-pending", "none", "--max-pending-age", "none", "--allowed-queues", "none")
    assert admission() == (None, None, [])
    out = run("create_tenant", "Initech", "--max-pending", "3", "--allowed-queues", "bulk")
    assert "max pending 3" in out and admission("initech") == (3, None, ["bulk"])


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--max-pending", "0", "at least 1"),
    ("--max-pending-age", "soon", "not an integer"),
    ("--allowed-queues", "a,,b", "non-empty"),
    ("--allowed-queues", LONG, "longer than 64"),
])
def test_commands_refuse_bad_admission_values(acme: Tenant, flag: str, value: str, message: str) -> None:
    for command in (["tenant", "acme"], ["create_tenant", "Initech"]):
        with pytest.raises(CommandError, match=message):
            run(*command, flag, value)
    assert admission() == (None, None, []) and not Tenant.objects.filter(slug="initech").exists()


# --------------------------------------------------------------------------- API


def patch(caller: Caller, body: object) -> Any:
    return caller.client.patch("/api/tenants/acme", json.dumps(body), content_type="application/json")


def test_api_sets_and_clears_the_admission_fields(operator_api: Caller, api: Caller) -> None:
    response = patch(operator_api, {"max_pending": 100, "max_pending_age_seconds": 300, "allowed_queues": ["x"]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["max_pending"], body["max_pending_age_seconds"], body["allowed_queues"]) == (100, 300, ["x"])
    assert admission() == (100, 300, ["x"])
    patch(operator_api, {"max_pending": None, "max_pending_age_seconds": None, "allowed_queues": None})
    assert admission() == (None, None, [])
    assert operator_api.get("/api/tenants/acme").json()["allowed_queues"] == []


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"max_pending": 0}, "max_pending", "greater than or equal to 1"),
    ({"max_pending": "lots"}, "max_pending", "valid integer"),
    ({"max_pending": 2**31}, "max_pending", "less than or equal to"),
    ({"max_pending_age_seconds": 0}, "max_pending_age_seconds", "greater than or equal to 1"),
    ({"max_pending_age_seconds": 1.5}, "max_pending_age_seconds", "valid integer"),
    ({"allowed_queues": "bulk"}, "allowed_queues", "list"),
    ({"allowed_queues": [""]}, "allowed_queues.0", "blank"),
    ({"allowed_queues": [LONG]}, "allowed_queues.0", "no more than 64"),
    ({"allowed_queues": [" bulk"]}, "allowed_queues", "surrounding spaces"),
    ({"allowed_queues": ["a,b"]}, "allowed_queues", "commas"),
    ({"allowed_queues": [{"q": 1}]}, "allowed_queues.0", "valid string"),
    ({"allowed_queues": ["q"] * 101}, "allowed_queues", "no more than 100"),
])
def test_api_refuses_bad_admission_values(operator_api: Caller, api: Caller, body: object, field: str,
                                          message: str) -> None:
    problem = assert_problem(patch(operator_api, body), 400, field)
    assert message in " ".join(e["message"] for e in problem["errors"]), problem
    assert admission() == (None, None, [])


# --------------------------------------------------------------------------- granted types


@dataclass(frozen=True)
class ListedType(TaskType):
    access: str = "listed"


@pytest.fixture
def listed() -> Iterator[str]:
    registry.register(ListedType(name="payroll", func=lambda payload, ctx: None))
    yield "payroll"
    registry._types.pop("payroll", None)


def test_console_grants_and_revokes_a_listed_type(acme: Tenant, listed: str) -> None:
    staff = client_for(make_user("operator", perms=OPERATOR_PERMS))
    page = html(staff.get("/tenants/acme/"))
    assert '<option value="payroll">' in page and '<option value="noop">' not in page  # only listed types
    assert staff.post("/tenants/acme/", {"form": "grant", "type": "payroll"}).status_code == 302
    assert list(TypeGrant.objects.filter(tenant=acme).values_list("type", flat=True)) == ["payroll"]
    assert 'data-grant="payroll"' in html(staff.get("/tenants/acme/"))
    assert staff.post("/tenants/acme/", {"form": "grant", "type": "noop"}).status_code == 400  # not listed
    viewer = client_for(make_user("viewer", perms=VIEW_PERMS))
    assert 'data-grant="payroll"' in html(viewer.get("/tenants/acme/"))
    assert viewer.post("/tenants/acme/", {"form": "revoke_grant", "type": "payroll"}).status_code == 403
    assert viewer.post("/tenants/acme/", {"form": "grant", "type": "payroll"}).status_code == 403
    assert TypeGrant.objects.count() == 1
    assert staff.post("/tenants/acme/", {"form": "revoke_grant", "type": "payroll"}).status_code == 302
    assert not TypeGrant.objects.exists()


def test_admin_grants_only_listed_types_and_never_edits_a_grant(acme: Tenant, listed: str) -> None:
    root = client_for(User.objects.create_superuser("root", "root@example.com", PASSWORD))
    form = html(root.get("/admin/jobs/typegrant/add/"))
    assert '<option value="payroll">' in form and '<option value="noop">' not in form
    refused = root.post("/admin/jobs/typegrant/add/", {"tenant": acme.pk, "type": "noop"})
    assert refused.status_code == 200 and "errorlist" in html(refused) and not TypeGrant.objects.exists()
    assert root.post("/admin/jobs/typegrant/add/", {"tenant": acme.pk, "type": "payroll"}).status_code == 302
    grant = TypeGrant.objects.get(tenant=acme)
    assert grant.type == "payroll"
    again = root.post("/admin/jobs/typegrant/add/", {"tenant": acme.pk, "type": "payroll"})
    assert again.status_code == 200 and TypeGrant.objects.count() == 1  # one grant per tenant and type
    other = Tenant.objects.create(name="Globex", slug="globex")
    root.post(f"/admin/jobs/typegrant/{grant.pk}/change/", {"tenant": other.pk, "type": "payroll"})
    assert TypeGrant.objects.get().tenant_id == acme.pk
    assert root.post(f"/admin/jobs/typegrant/{grant.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not TypeGrant.objects.exists()
