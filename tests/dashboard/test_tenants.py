"""The tenants pages: the list, editing weight and rate limit, issuing and revoking API keys."""

import hashlib
import re
from typing import Any

import pytest

from tenants import keys
from tenants.models import ApiKey, Tenant
from tests.support.console import (
    HTMX,
    OPERATOR_PERMS,
    client_for,
    html,
    make_user,
)

pytestmark = pytest.mark.django_db


def test_tenants_list(viewer: Any, tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(weight=4, rate_limit=1500)
    keys.issue(tenant, name="one")
    body = html(viewer.get("/tenants/"))
    row = re.search(r'<tr data-tenant="acme">(.*?)</tr>', body, re.S)
    assert row and ">4<" in row.group(1) and "1,500 per 60 s" in row.group(1)
    assert re.search(r'<td class="num">1</td>', row.group(1))


def test_operator_edits_weight_and_rate_limit(operator: Any, tenant: Tenant) -> None:
    _, raw = keys.issue(tenant)
    assert keys.verify(raw) is not None  # cached, with the old limits
    response = operator.post(f"/tenants/{tenant.slug}/", {"weight": "5", "rate_limit": "100",
                                                          "rate_window_seconds": "30"})
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.weight, tenant.rate_limit, tenant.rate_window_seconds) == (5, 100, 30)
    verified = keys.verify(raw)
    assert verified is not None and verified.rate_limit == 100  # the cache was dropped
    bad = operator.post(f"/tenants/{tenant.slug}/", {"weight": "0", "rate_limit": "", "rate_window_seconds": ""})
    assert bad.status_code == 400 and 'role="alert"' in html(bad)
    tenant.refresh_from_db()
    assert tenant.weight == 5


def test_new_api_key_is_shown_once_and_only_its_hash_is_stored(operator: Any, tenant: Tenant) -> None:
    response = operator.post(f"/tenants/{tenant.slug}/keys/", {"name": "billing"})
    body = html(response)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    match = re.search(r'value="(jek_([0-9a-f]{12})_[A-Za-z0-9_-]{20,})"', body)
    assert match, body
    raw, prefix = match.groups()
    key = ApiKey.objects.get(tenant=tenant, name="billing")
    assert key.prefix == prefix and key.hashed == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {key.prefix, key.hashed, key.name}
    assert not key.is_operator and key.revoked_at is None
    verified = keys.verify(raw)
    assert verified is not None and verified.tenant_id == tenant.pk
    assert raw not in html(operator.get(f"/tenants/{tenant.slug}/"))  # never again
    assert f"jek_{prefix}_…" in html(operator.get(f"/tenants/{tenant.slug}/"))


def test_new_api_key_over_htmx(tenant: Tenant) -> None:
    # An operator key needs its own permission beyond add_apikey (tests/security/test_operators.py).
    operator = client_for(make_user("keymaster", perms=[*OPERATOR_PERMS, "tenants.issue_operator_key"]))
    response = operator.post(f"/tenants/{tenant.slug}/keys/", {"name": "ops", "is_operator": "on"},
                             headers={**HTMX, "HX-Target": "keys-panel"})
    body = html(response)
    assert "<html" not in body and body.lstrip().startswith('<section id="keys-panel"')
    match = re.search(r'value="(jek_[0-9a-f]{12}_[^"]+)"', body)
    assert match
    key = ApiKey.objects.get(name="ops")
    assert key.is_operator and key.hashed == keys.hash_secret(match.group(1))


def test_revoke_api_key(operator: Any, tenant: Tenant) -> None:
    key, raw = keys.issue(tenant, name="old")
    assert keys.verify(raw) is not None
    response = operator.post(f"/tenants/{tenant.slug}/keys/{key.pk}/revoke/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert keys.verify(raw) is None
    again = operator.post(f"/tenants/{tenant.slug}/keys/{key.pk}/revoke/", follow=True)
    assert "already revoked" in html(again)
    assert operator.post(f"/tenants/globex-missing/keys/{key.pk}/revoke/").status_code == 404


def test_operator_sets_and_clears_the_concurrency_cap(operator: Any, tenant: Tenant) -> None:
    form = {"weight": "1", "max_running": "4", "rate_limit": "", "rate_window_seconds": ""}
    response = operator.post(f"/tenants/{tenant.slug}/", form)
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.max_running == 4
    assert 'name="max_running"' in html(operator.get(f"/tenants/{tenant.slug}/"))
    row = re.search(r'<tr data-tenant="acme">(.*?)</tr>', html(operator.get("/tenants/")), re.S)
    assert row and re.search(r"data-max-running>4<", row.group(1))
    bad = operator.post(f"/tenants/{tenant.slug}/", {**form, "max_running": "0"})
    assert bad.status_code == 400
    tenant.refresh_from_db()
    assert tenant.max_running == 4
    operator.post(f"/tenants/{tenant.slug}/", {**form, "max_running": ""})
    tenant.refresh_from_db()
    assert tenant.max_running is None


def test_viewer_sees_the_cap_but_cannot_change_it(viewer: Any, tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(max_running=3)
    body = html(viewer.get(f"/tenants/{tenant.slug}/"))
    assert 'name="max_running"' not in body
    assert re.search(r"data-max-running>3<", body)
    response = viewer.post(f"/tenants/{tenant.slug}/", {"weight": "1", "max_running": "9"})
    assert response.status_code == 403
    tenant.refresh_from_db()
    assert tenant.max_running == 3
