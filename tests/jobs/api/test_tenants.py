"""GET and PATCH /api/tenants/{slug}: operator keys read and change a tenant's cap, weight and state."""

import pytest

from tenants.models import Tenant
from tests.support.api import Caller, assert_problem

pytestmark = pytest.mark.django_db


def patch(caller: Caller, slug: str, body: object) -> object:
    import json

    return caller.client.patch(f"/api/tenants/{slug}", json.dumps(body), content_type="application/json")


def test_operator_sets_and_lifts_a_cap(operator_api: Caller, api: Caller) -> None:
    response = patch(operator_api, "acme", {"max_running": 3, "weight": 2})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["slug"], body["max_running"], body["weight"], body["active"]) == ("acme", 3, 2, True)
    assert Tenant.objects.get(slug="acme").max_running == 3
    response = patch(operator_api, "acme", {"max_running": None, "active": False})
    assert (response.json()["max_running"], response.json()["active"]) == (None, False)
    tenant = Tenant.objects.get(slug="acme")
    assert (tenant.max_running, tenant.weight, tenant.active) == (None, 2, False)
    got = operator_api.get("/api/tenants/acme")
    assert got.status_code == 200 and got.json()["weight"] == 2


@pytest.mark.parametrize(("body", "field"), [
    ({"max_running": 0}, "max_running"),
    ({"max_running": "many"}, "max_running"),
    ({"weight": 0}, "weight"),
    ({"active": "perhaps"}, "active"),
    ({"max_runing": 3}, "max_runing"),
    ([1, 2], "body"),
])
def test_bad_input_is_400_naming_the_field(operator_api: Caller, api: Caller, body: object, field: str) -> None:
    assert_problem(patch(operator_api, "acme", body), 400, field)
    tenant = Tenant.objects.get(slug="acme")
    assert (tenant.max_running, tenant.weight, tenant.active) == (None, 1, True)


def test_tenant_keys_are_refused(api: Caller, other_api: Caller) -> None:
    assert_problem(patch(api, "acme", {"max_running": 1}), 403)
    assert_problem(patch(api, "globex", {"max_running": 1}), 403)
    assert_problem(api.get("/api/tenants/acme"), 403)
    assert_problem(patch(api, "nobody", {"max_running": 1}), 403)  # no hint of which slugs exist
    assert Tenant.objects.get(slug="acme").max_running is None


def test_unknown_slug_is_404(operator_api: Caller) -> None:
    assert_problem(patch(operator_api, "nobody", {"max_running": 1}), 404)
    assert_problem(operator_api.get("/api/tenants/nobody"), 404)


def test_without_a_key_is_401(operator_api: Caller) -> None:
    from django.test import Client

    assert_problem(Client().patch("/api/tenants/ops", "{}", content_type="application/json"), 401)
