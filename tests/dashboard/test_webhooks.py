"""The console's webhook pages: list per tenant, create with the secret shown once, delete after a
confirmation, the latest deliveries linked to their tasks; who may do what."""

from typing import Any

import pytest
from django.test import Client

from jobs.lifecycle import Status
from jobs.models import AuditEntry, Webhook
from jobs.models.webhooks import DELIVERY_TYPE
from jobs.services import webhooks
from tests.support.builders import add_task
from tests.support.console import VIEW_PERMS, client_for, html, make_user

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hook"


@pytest.fixture
def hooks_admin(db: None) -> Client:
    return client_for(make_user("hooks", perms=[*VIEW_PERMS, "jobs.view_webhook", "jobs.add_webhook",
                                                 "jobs.delete_webhook"]))


def test_create_shows_the_secret_once(hooks_admin: Client, tenant: Any) -> None:
    response = hooks_admin.post("/webhooks/", {"tenant": "acme", "url": URL, "events": ["task.failed"]})
    assert response.status_code == 200
    hook = Webhook.objects.get()
    page = html(response)
    assert hook.secret in page and f'data-new-webhook="{hook.pk}"' in page
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    assert (hook.tenant_id, hook.url, hook.events) == (tenant.pk, URL, ["task.failed"])
    again = html(hooks_admin.get("/webhooks/"))
    assert hook.secret not in again and f'data-webhook="{hook.pk}"' in again
    assert AuditEntry.objects.filter(action="webhook.create", actor="hooks").exists()


def test_invalid_input_is_a_form_error(hooks_admin: Client, tenant: Any, settings: Any) -> None:
    response = hooks_admin.post("/webhooks/", {"tenant": "acme", "url": "ftp://x", "events": []})
    assert response.status_code == 400 and 'class="error"' in html(response)
    settings.PRODUCTION = True
    response = hooks_admin.post("/webhooks/", {"tenant": "acme", "url": URL, "events": ["task.failed"]})
    assert response.status_code == 400 and "refused in production" in html(response)
    assert not Webhook.objects.exists()


def test_list_per_tenant_and_detail_links_deliveries_to_tasks(hooks_admin: Client, tenant: Any,
                                                               other_tenant: Any) -> None:
    mine, _ = webhooks.create(tenant, URL, ["task.completed"])
    theirs, _ = webhooks.create(other_tenant, URL, ["task.completed"])
    page = html(hooks_admin.get("/webhooks/", {"tenant": "acme"}))
    assert f'data-webhook="{mine.pk}"' in page and f'data-webhook="{theirs.pk}"' not in page
    source = add_task(tenant, "noop", status=Status.COMPLETED)
    delivery = add_task(tenant, DELIVERY_TYPE, status=Status.SCHEDULED, concurrency_key=mine.concurrency_key,
                        payload={"webhook": mine.pk, "event": "task.completed", "task": source.pk})
    detail = html(hooks_admin.get(f"/webhooks/{mine.pk}/"))
    assert f'href="/tasks/{delivery.pk}/"' in detail and f'href="/tasks/{source.pk}/"' in detail
    assert mine.secret not in detail
    assert f'data-delivery="{delivery.pk}"' not in html(hooks_admin.get(f"/webhooks/{theirs.pk}/"))


def test_delete_asks_first(hooks_admin: Client, tenant: Any) -> None:
    hook, _ = webhooks.create(tenant, URL, ["task.completed"])
    confirm = hooks_admin.get(f"/webhooks/{hook.pk}/delete/")
    assert confirm.status_code == 200 and "Delete it" in html(confirm)
    assert Webhook.objects.filter(pk=hook.pk).exists()
    response = hooks_admin.post(f"/webhooks/{hook.pk}/delete/")
    assert response.status_code == 302 and not Webhook.objects.filter(pk=hook.pk).exists()
    assert AuditEntry.objects.filter(action="webhook.delete").count() == 1


def test_viewers_may_not_create_or_delete(tenant: Any) -> None:
    reader = client_for(make_user("reader", perms=["jobs.view_webhook"]))
    hook, _ = webhooks.create(tenant, URL, ["task.completed"])
    assert reader.get("/webhooks/").status_code == 200
    assert reader.post("/webhooks/", {"tenant": "acme", "url": URL, "events": ["task.failed"]}).status_code == 403
    assert reader.post(f"/webhooks/{hook.pk}/delete/").status_code == 403
    assert Webhook.objects.count() == 1
    nobody = client_for(make_user("nobody"))
    assert nobody.get("/webhooks/").status_code == 403
