"""POST/GET /api/webhooks and GET/DELETE /api/webhooks/{id}: tenant-scoped, the secret shown once,
targets refused in production when they are not public addresses (no SSRF)."""

from typing import Any

import pytest

from jobs.contrib import webhooks as delivery
from jobs.models import AuditEntry, Webhook
from tests.support.api import Caller, assert_problem

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hook"


def create(caller: Caller, url: str = URL, events: Any = None) -> Any:
    return caller.post("/api/webhooks", {"url": url, "events": events or ["task.completed", "task.failed"]})


def test_create_shows_the_secret_once_then_lists_and_reads_without_it(api: Caller) -> None:
    response = create(api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert (body["url"], body["events"], body["active"], body["tenant"]) == (
        URL, ["task.completed", "task.failed"], True, "acme")
    assert response["Location"] == f"/api/webhooks/{body['id']}"
    assert Webhook.objects.get(pk=body["id"]).secret == body["secret"]
    listed = api.get("/api/webhooks").json()["data"]
    assert [h["id"] for h in listed] == [body["id"]] and "secret" not in listed[0]
    one = api.get(f"/api/webhooks/{body['id']}").json()
    assert "secret" not in one and one["deliveries"] == [] and one["url"] == URL
    assert AuditEntry.objects.filter(action="webhook.create", actor=api.key.prefix).count() == 1


def test_delete(api: Caller) -> None:
    pk = create(api).json()["id"]
    assert api.client.delete(f"/api/webhooks/{pk}").status_code == 204
    assert not Webhook.objects.filter(pk=pk).exists()
    assert_problem(api.client.delete(f"/api/webhooks/{pk}"), 404)
    assert AuditEntry.objects.filter(action="webhook.delete").count() == 1


def test_another_tenants_endpoints_are_invisible(api: Caller, other_api: Caller, operator_api: Caller) -> None:
    mine = create(api).json()["id"]
    theirs = create(other_api).json()["id"]
    assert [h["id"] for h in api.get("/api/webhooks").json()["data"]] == [mine]
    assert_problem(api.get(f"/api/webhooks/{theirs}"), 404)
    assert_problem(api.client.delete(f"/api/webhooks/{theirs}"), 404)
    assert Webhook.objects.filter(pk=theirs).exists()
    assert_problem(api.get("/api/webhooks", {"all": "true"}), 403)
    everyone = operator_api.get("/api/webhooks", {"all": "true"}).json()["data"]
    assert {h["id"] for h in everyone} == {mine, theirs}


def test_every_invalid_field_is_named(api: Caller) -> None:
    body = assert_problem(api.post("/api/webhooks", {"url": "ftp://x", "events": ["task.exploded"]}), 400,
                          "url", "events")
    assert any("task.completed" in e["message"] for e in body["errors"] if e["field"] == "events")
    assert_problem(api.post("/api/webhooks", {"url": URL, "events": []}), 400, "events")
    assert_problem(api.post("/api/webhooks", {"events": ["task.failed"]}), 400, "url")
    assert_problem(api.post("/api/webhooks", {"url": URL, "events": ["task.failed"], "secret": "x"}), 400, "secret")
    assert_problem(api.post("/api/webhooks", {"url": "http://user:pw@example.com/", "events": ["task.failed"]}),
                   400, "url")
    assert_problem(api.post("/api/webhooks", {"url": "http://no-such-host.invalid/", "events": ["task.failed"]}),
                   400, "url")
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://localhost:8000/hook", "http://10.1.2.3/", "http://192.168.0.10/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[fe80::1]/", "http://224.0.0.1/",
    "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "http://100.64.0.1/",
])
def test_production_refuses_non_public_targets(api: Caller, settings: Any, url: str) -> None:
    settings.PRODUCTION = True
    body = assert_problem(create(api, url), 400, "url")
    assert "refused in production" in body["errors"][0]["message"]


def test_production_accepts_a_public_address(api: Caller, settings: Any) -> None:
    settings.PRODUCTION = True
    assert create(api, "https://93.184.215.14/hook").status_code == 201


def test_the_setting_overrides_production(api: Caller, settings: Any) -> None:
    settings.PRODUCTION = True
    settings.JOBS = {**settings.JOBS, "WEBHOOK_ALLOW_PRIVATE": True}
    assert create(api).status_code == 201
    settings.JOBS = {**settings.JOBS, "WEBHOOK_ALLOW_PRIVATE": False}
    settings.PRODUCTION = False
    assert_problem(create(api), 400, "url")


def test_a_delivery_is_refused_too_when_the_target_is_no_longer_allowed(api: Caller, settings: Any) -> None:
    """The guard runs again at delivery: an endpoint created while allowed (or a name that now resolves
    to a private address) is not connected to."""
    assert create(api).status_code == 201
    settings.PRODUCTION = True
    with pytest.raises(delivery.DeliveryFailed, match="loopback address: refused in production"):
        delivery.post(URL, b"{}", {})


def test_the_schema_documents_the_endpoints(api: Caller) -> None:
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert set(paths["/api/webhooks"]) >= {"get", "post"} and set(paths["/api/webhooks/{id}"]) >= {"get", "delete"}
    created = paths["/api/webhooks"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert "secret" in schema["components"]["schemas"][created.rsplit("/", 1)[1]]["properties"]
