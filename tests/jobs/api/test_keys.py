"""API keys: the create/revoke commands, hashing at rest, both headers, revocation, last-used at most once a minute."""

import hashlib
import json
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tenants import keys
from tenants.models import ApiKey, Tenant
from tests.support.api import Caller, MakeApi, api_key_row, assert_problem

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def get_tasks(raw: str, **params: str) -> Any:
    return Client(headers={"X-API-Key": raw}).get("/api/tasks", params)


def apikey_writes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].lstrip().upper().startswith("UPDATE") and "tenants_apikey" in q["sql"].replace("`", '"')]


def apikey_reads(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].lstrip().upper().startswith("SELECT") and "tenants_apikey" in q["sql"].replace("`", '"')]


@pytest.fixture
def acme(db: None) -> Tenant:
    return Tenant.objects.create(name="Acme", slug="acme", rate_limit=1_000_000)


# =========================================================================== create_api_key


def test_create_api_key_prints_a_working_key_once(acme: Tenant) -> None:
    out = run("create_api_key", "acme")
    raw = out.strip().splitlines()[-1]
    assert "key for acme" in out and "shown once" in out
    assert raw.startswith("jek_")
    key = ApiKey.objects.get()
    assert (key.tenant_id, key.is_operator, key.name, key.revoked_at) == (acme.pk, False, "", None)
    assert raw.split("_")[1] == key.prefix
    response = get_tasks(raw)
    assert response.status_code == 200
    assert_problem(get_tasks(raw, all="true"), 403)


def test_create_api_key_json(acme: Tenant) -> None:
    data = json.loads(run("create_api_key", "acme", "--name", "ci deploy", "--json"))
    assert set(data) == {"key", "prefix", "tenant", "name", "operator", "created_at"}
    assert (data["tenant"], data["name"], data["operator"]) == ("acme", "ci deploy", False)
    key = ApiKey.objects.get()
    assert data["prefix"] == key.prefix and data["key"].startswith(f"jek_{key.prefix}_")
    assert key.name == "ci deploy"
    assert get_tasks(data["key"]).status_code == 200


def test_create_api_key_operator(acme: Tenant) -> None:
    Tenant.objects.create(name="Globex", slug="globex")
    out = run("create_api_key", "acme", "--operator")
    assert "operator key for acme" in out
    raw = out.strip().splitlines()[-1]
    assert ApiKey.objects.get().is_operator
    assert get_tasks(raw, all="true").status_code == 200
    data = json.loads(run("create_api_key", "acme", "--operator", "--json"))
    assert data["operator"] is True
    assert get_tasks(data["key"], all="true").status_code == 200


def test_create_api_key_for_an_unknown_tenant_fails_cleanly(db: None) -> None:
    with pytest.raises(CommandError, match="unknown tenant 'nope'"):
        run("create_api_key", "nope")
    assert not ApiKey.objects.exists()


def test_create_api_key_with_a_name_too_long_fails_cleanly(acme: Tenant) -> None:
    with pytest.raises(CommandError, match="name"):
        run("create_api_key", "acme", "--name", "n" * 101)
    assert not ApiKey.objects.exists()


def test_every_key_is_distinct(acme: Tenant) -> None:
    raws = {json.loads(run("create_api_key", "acme", "--json"))["key"] for _ in range(5)}
    assert len(raws) == 5
    assert ApiKey.objects.values("prefix").distinct().count() == 5
    assert all(get_tasks(raw).status_code == 200 for raw in raws)


# =========================================================================== hashed at rest


def test_only_a_hash_of_the_key_is_stored(acme: Tenant) -> None:
    raw = json.loads(run("create_api_key", "acme", "--json"))["key"]
    secret = raw.split("_", 2)[2]
    key = ApiKey.objects.get()
    assert key.hashed == hashlib.sha256(raw.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tenants_apikey")
        rows = cursor.fetchall()
    stored = " ".join(str(value) for row in rows for value in row)
    assert raw not in stored
    assert secret not in stored
    assert key.prefix in stored  # the public part is, to find the row


# =========================================================================== headers


def test_bearer_and_x_api_key_headers(api: Caller) -> None:
    assert Client(headers={"Authorization": f"Bearer {api.raw}"}).get("/api/tasks").status_code == 200
    assert Client(headers={"Authorization": f"bearer {api.raw}"}).get("/api/tasks").status_code == 200
    assert Client(headers={"X-API-Key": api.raw}).get("/api/tasks").status_code == 200


def test_a_bearer_caller_can_do_everything_a_header_caller_can(make_api: MakeApi) -> None:
    caller = make_api("acme", scheme="bearer")
    created = caller.submit()
    assert created.status_code == 201
    assert caller.get(f"/api/tasks/{created.json()['id']}").json()["tenant"] == "acme"


@pytest.mark.parametrize("headers", [
    {"Authorization": "Basic {raw}"}, {"Authorization": "Bearer"}, {"Authorization": "Bearer   "},
    {"Authorization": "{raw}"}, {"X-API-Key": "{raw}x"}, {"X-API-Key": "jek_"}, {"X-API-Key": "jek__secret"},
    {"X-API-Key": "jek_prefix_"}, {"X-API-Key": "nope"}, {"X-API-Key": "jek_" + "p" * 17 + "_secret"},
    {"X-API-Key": "{prefix_only}_wrongsecret"},
])
def test_bad_credentials_are_401(api: Caller, headers: dict[str, str]) -> None:
    filled = {k: v.format(raw=api.raw, prefix_only=f"jek_{api.key.prefix}") for k, v in headers.items()}
    response = Client(headers=filled).get("/api/tasks")
    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_key_of_an_inactive_tenant_is_403(api: Caller) -> None:
    # The key is valid, so 401 (send other credentials) would mislead: the tenant is refused.
    Tenant.objects.filter(pk=api.tenant.pk).update(active=False)
    keys.forget()
    response = api.get("/api/tasks")
    assert assert_problem(response, 403)["detail"] == "tenant is inactive"
    assert "WWW-Authenticate" not in response


# =========================================================================== revocation


def test_revoke_makes_the_key_fail_at_once(make_api: MakeApi) -> None:
    caller = make_api("acme")
    sibling = make_api("acme")
    assert caller.get("/api/tasks").status_code == 200  # now cached
    keys.revoke(caller.key)
    assert api_key_row(caller).revoked_at is not None
    assert_problem(caller.get("/api/tasks"), 401)
    assert_problem(caller.submit(), 401)
    assert sibling.get("/api/tasks").status_code == 200


def test_revoke_api_key_command(api: Caller) -> None:
    assert api.get("/api/tasks").status_code == 200
    out = run("revoke_api_key", api.key.prefix)
    assert "revoked" in out and api.key.prefix in out
    assert api_key_row(api).revoked_at is not None
    assert_problem(api.get("/api/tasks"), 401)
    with pytest.raises(CommandError, match="already revoked"):
        run("revoke_api_key", api.key.prefix)
    with pytest.raises(CommandError, match="no API key"):
        run("revoke_api_key", "doesnotexist")


def test_a_revocation_made_elsewhere_applies_once_the_cache_lapses(api: Caller) -> None:
    assert api.get("/api/tasks").status_code == 200
    # Another process revoked it: this one trusts its verification for API_KEY_CACHE_SECONDS…
    ApiKey.objects.filter(pk=api.key.pk).update(revoked_at=timezone.now())
    assert api.get("/api/tasks").status_code == 200
    keys.forget()  # …then verifies again
    assert_problem(api.get("/api/tasks"), 401)


def test_without_a_key_cache_a_revocation_applies_on_the_next_request(api: Caller, settings: Any) -> None:
    settings.JOBS = {**settings.JOBS, "API_KEY_CACHE_SECONDS": 0}
    assert api.get("/api/tasks").status_code == 200
    ApiKey.objects.filter(pk=api.key.pk).update(revoked_at=timezone.now())
    assert_problem(api.get("/api/tasks"), 401)


def test_verified_keys_are_cached(api: Caller) -> None:
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert api.get("/api/tasks").status_code == 200
    assert len(apikey_reads(queries)) == 1


# =========================================================================== last used


def test_last_used_at_is_written_at_most_once_a_minute(api: Caller) -> None:
    assert api_key_row(api).last_used_at is None
    before = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(6):
            assert api.get("/api/tasks").status_code == 200
        assert api.submit().status_code == 201
    assert len(apikey_writes(queries)) == 1
    first = api_key_row(api).last_used_at
    assert first is not None and first >= before
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            api.get("/api/tasks")
    assert apikey_writes(queries) == []
    assert api_key_row(api).last_used_at == first

    # A minute later (for this process and for the row) the next request records the use again.
    keys.reset()  # this process's last-use marks, as if a minute had passed
    ApiKey.objects.filter(pk=api.key.pk).update(last_used_at=first - timedelta(minutes=2))
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            api.get("/api/tasks")
    assert len(apikey_writes(queries)) == 1
    assert api_key_row(api).last_used_at >= before


def test_last_used_at_is_per_key(make_api: MakeApi) -> None:
    used = make_api("acme")
    idle = make_api("acme")
    used.get("/api/tasks")
    assert api_key_row(used).last_used_at is not None
    assert api_key_row(idle).last_used_at is None
