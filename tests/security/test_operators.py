"""Operator powers: who may mint operator keys (M9), what a key is after issue, where a new secret is shown (L5),
inactive tenants' keys, and login throttling (L6)."""

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.messages.storage.cookie import CookieStorage
from django.test import Client, RequestFactory

from tenants import keys
from tenants.models import ApiKey, Tenant
from tests.support.api import Caller, assert_problem
from tests.support.console import OPERATOR_PERMS, PASSWORD, client_for, html, make_user

pytestmark = pytest.mark.django_db

ISSUE = "tenants.issue_operator_key"
#: Admin rights over keys, without the operator permission.
KEY_ADMIN_PERMS = ["tenants.view_tenant", "tenants.view_apikey", "tenants.add_apikey", "tenants.change_apikey"]
SECRET = re.compile(r"jek_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")


@pytest.fixture
def acme(db: None) -> Tenant:
    return Tenant.objects.create(name="Acme", slug="acme")


def operator_keys() -> int:
    return ApiKey.objects.filter(is_operator=True).count()


# --------------------------------------------------------------------------- the console's key form


def test_console_without_the_permission_hides_the_box_and_refuses_a_forged_one(acme: Tenant) -> None:
    staff = client_for(make_user("keyclerk", perms=OPERATOR_PERMS))
    page = html(staff.get("/tenants/acme/"))
    assert "Create key" in page and 'name="is_operator"' not in page
    forged = staff.post("/tenants/acme/keys/", {"name": "sneaky", "is_operator": "on"})
    assert forged.status_code == 403
    assert not ApiKey.objects.exists()  # refused whole: not even a tenant key
    plain = staff.post("/tenants/acme/keys/", {"name": "billing"})
    assert plain.status_code == 200 and SECRET.search(html(plain))
    assert ApiKey.objects.get().is_operator is False


@pytest.mark.parametrize("superuser", [False, True])
def test_console_with_the_permission_issues_operator_keys_and_without_it_not(acme: Tenant, superuser: bool) -> None:
    if superuser:
        user = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    else:
        user = make_user("keymaster", perms=[*OPERATOR_PERMS, ISSUE])
    staff = client_for(user)
    assert 'name="is_operator"' in html(staff.get("/tenants/acme/"))
    response = staff.post("/tenants/acme/keys/", {"name": "ops", "is_operator": "on"})
    assert response.status_code == 200
    assert ApiKey.objects.get(name="ops").is_operator is True
    clerk = client_for(make_user("keyclerk", perms=OPERATOR_PERMS))
    assert clerk.post("/tenants/acme/keys/", {"name": "ops2", "is_operator": "on"}).status_code == 403
    assert operator_keys() == 1


# --------------------------------------------------------------------------- the admin's key pages


def test_admin_without_the_permission_cannot_mint_an_operator_key(acme: Tenant) -> None:
    staff = client_for(make_user("keyclerk", perms=KEY_ADMIN_PERMS))
    form = html(staff.get("/admin/tenants/apikey/add/"))
    assert 'name="is_operator"' not in form
    response = staff.post("/admin/tenants/apikey/add/", {"tenant": acme.pk, "name": "sneaky", "is_operator": "on"})
    assert response.status_code == 200, html(response)[:2000]
    assert ApiKey.objects.get(name="sneaky").is_operator is False
    assert operator_keys() == 0


def test_admin_with_the_permission_mints_an_operator_key(acme: Tenant) -> None:
    staff = client_for(make_user("keymaster", perms=[*KEY_ADMIN_PERMS, ISSUE]))
    assert 'name="is_operator"' in html(staff.get("/admin/tenants/apikey/add/"))
    response = staff.post("/admin/tenants/apikey/add/", {"tenant": acme.pk, "name": "ops", "is_operator": "on"})
    assert "operator key" in html(response) and SECRET.search(html(response))
    assert ApiKey.objects.get(name="ops").is_operator is True


def test_admin_cannot_change_a_keys_tenant_or_kind(acme: Tenant) -> None:
    other = Tenant.objects.create(name="Globex", slug="globex")
    key, raw = keys.issue(acme, name="old")
    root = client_for(User.objects.create_superuser("root", "root@example.com", PASSWORD))
    form = html(root.get(f"/admin/tenants/apikey/{key.pk}/change/"))
    assert 'name="tenant"' not in form and 'name="is_operator"' not in form and 'name="name"' in form
    response = root.post(f"/admin/tenants/apikey/{key.pk}/change/",
                         {"tenant": other.pk, "is_operator": "on", "name": "renamed"})
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.name, key.tenant_id, key.is_operator) == ("renamed", acme.pk, False)
    # Nor through the tenant page's list of keys.
    tenant_form = html(root.get(f"/admin/tenants/tenant/{acme.pk}/change/"))
    assert "api_keys-0-name" in tenant_form and "api_keys-0-is_operator" not in tenant_form
    verified = keys.verify(raw)
    assert verified is not None and not verified.is_operator


def test_admin_shows_a_new_secret_once_and_never_stores_it(acme: Tenant) -> None:
    root = client_for(User.objects.create_superuser("root", "root@example.com", PASSWORD))
    response = root.post("/admin/tenants/apikey/add/", {"tenant": acme.pk, "name": "billing"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    match = SECRET.search(html(response))
    assert match
    raw = match.group(0)
    key = ApiKey.objects.get(name="billing")
    assert key.hashed == keys.hash_secret(raw)
    # Not in the messages framework: neither its cookie nor the session, nor shown on the next page.
    cookie = root.cookies.get(CookieStorage.cookie_name)
    if cookie is not None:
        stored = CookieStorage(RequestFactory().get("/"))._decode(cookie.value) or []
        assert all(raw not in str(m) for m in stored)
    assert raw not in repr(dict(root.session.items()))
    assert raw not in "".join(c.value for c in root.cookies.values())
    assert raw not in html(root.get("/admin/tenants/apikey/"))
    assert raw not in html(root.get(f"/admin/tenants/apikey/{key.pk}/change/"))


def test_admin_delete_forgets_the_cached_key(acme: Tenant) -> None:
    key, raw = keys.issue(acme)
    assert keys.verify(raw) is not None  # cached in this process
    root = client_for(User.objects.create_superuser("root", "root@example.com", PASSWORD))
    assert root.post(f"/admin/tenants/apikey/{key.pk}/delete/", {"post": "yes"}).status_code == 302
    assert keys.verify(raw) is None


# --------------------------------------------------------------------------- inactive tenants


def test_an_inactive_tenants_key_is_refused_with_403(api: Caller, operator_api: Caller) -> None:
    import json

    assert api.get("/api/tasks").status_code == 200  # cached while active
    response = operator_api.client.patch("/api/tenants/acme", json.dumps({"active": False}),
                                         content_type="application/json")
    assert response.status_code == 200
    refused = api.get("/api/tasks")
    assert assert_problem(refused, 403)["detail"] == "tenant is inactive"
    assert_problem(api.submit(), 403)
    # A wrong secret for the same prefix is still only "invalid": nothing learnt without the key.
    assert_problem(Client(headers={"X-API-Key": api.raw[:-2] + "xx"}).get("/api/tasks"), 401)
    Tenant.objects.filter(pk=api.tenant.pk).update(active=True)
    assert api.get("/api/tasks").status_code == 200  # refusals are not cached


# --------------------------------------------------------------------------- login throttling


LOGIN_PAGES = [("/login/", "dashboard"), ("/admin/login/", "admin")]


def _login(path: str, username: str, password: str, address: str, **headers: str) -> Any:
    return Client(REMOTE_ADDR=address, headers=headers).post(path, {"username": username, "password": password})


@pytest.mark.parametrize(("path", "_page"), LOGIN_PAGES)
def test_failed_logins_lock_out_that_user_from_that_address(settings: Any, path: str, _page: str) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    make_user("alice")
    make_user("bob")
    for _ in range(2):
        assert _login(path, "alice", "wrong", "10.0.0.1").status_code == 200  # the form again, with an error
    locked = _login(path, "alice", "wrong", "10.0.0.1")
    assert locked.status_code == 429
    assert "data-locked-out" in html(locked) and "Too many failed logins" in html(locked)
    # Even the right password, while locked out.
    assert _login(path, "alice", PASSWORD, "10.0.0.1").status_code == 429
    # Another user from that address, and that user from another address, are not locked out.
    assert _login(path, "bob", PASSWORD, "10.0.0.1").status_code == 302
    assert _login(path, "alice", PASSWORD, "10.0.0.2").status_code == 302


@pytest.mark.parametrize(("path", "_page"), LOGIN_PAGES)
def test_a_success_before_the_limit_clears_the_failures(settings: Any, path: str, _page: str) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    make_user("alice")
    for _ in range(2):
        _login(path, "alice", "wrong", "10.0.0.1")
    assert _login(path, "alice", PASSWORD, "10.0.0.1").status_code == 302
    # Counting starts again: two more failures are allowed, the third locks out.
    for _ in range(2):
        assert _login(path, "alice", "wrong", "10.0.0.1").status_code == 200
    assert _login(path, "alice", "wrong", "10.0.0.1").status_code == 429


def test_behind_a_proxy_the_address_it_saw_counts(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    settings.LOGIN_PROXY_COUNT = 1
    make_user("alice")
    nginx = "172.18.0.5"
    # The attacker's forged left-most entries change nothing: nginx appended the address it saw.
    for forged in ("1.1.1.1", "2.2.2.2"):
        _login("/login/", "alice", "wrong", nginx, **{"X-Forwarded-For": f"{forged}, 203.0.113.9"})
    assert _login("/login/", "alice", PASSWORD, nginx, **{"X-Forwarded-For": "203.0.113.9"}).status_code == 429
    # Other clients behind the same proxy still log in.
    assert _login("/login/", "alice", PASSWORD, nginx, **{"X-Forwarded-For": "198.51.100.7"}).status_code == 302
