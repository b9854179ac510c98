"""The webhook admin: endpoints are read (never their secret), switched off and on, deleted through the service."""

from typing import Any

import pytest
from django.test import Client

from jobs.models import AuditEntry, Webhook
from jobs.services import webhooks

pytestmark = pytest.mark.django_db


def test_the_admin_shows_no_secret_and_adds_nothing(admin_client_: Client, tenant: Any) -> None:
    hook, secret = webhooks.create(tenant, "http://127.0.0.1:9/", ["task.completed"])
    listed = admin_client_.get("/admin/jobs/webhook/").content.decode()
    assert "127.0.0.1:9" in listed and secret not in listed
    page = admin_client_.get(f"/admin/jobs/webhook/{hook.pk}/change/").content.decode()
    assert secret not in page
    assert admin_client_.get("/admin/jobs/webhook/add/").status_code == 403


def test_switch_off_and_delete_are_audited(admin_client_: Client, tenant: Any) -> None:
    hook, _ = webhooks.create(tenant, "http://127.0.0.1:9/", ["task.completed"])
    response = admin_client_.post(f"/admin/jobs/webhook/{hook.pk}/change/", {"active": ""})
    assert response.status_code == 302, response.content[:2000]
    assert Webhook.objects.get(pk=hook.pk).active is False
    assert AuditEntry.objects.filter(action="webhook.update").exists()
    response = admin_client_.post(f"/admin/jobs/webhook/{hook.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not Webhook.objects.exists()
    assert AuditEntry.objects.filter(action="webhook.delete").count() == 1
