"""The console's access rules: login, staff, view and change permissions, who sees which buttons."""

from typing import Any

import pytest

from jobs.lifecycle import Status
from tenants import keys
from tenants.models import ApiKey, Tenant
from tests.support.builders import add_task, failed_task
from tests.support.console import HTMX, PAGES, PASSWORD, client_for, html, make_user, statuses

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_is_sent_to_login(anon: Any, path: str) -> None:
    response = anon.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_non_staff_user_is_sent_to_login(tenant: Tenant) -> None:
    client = client_for(make_user("customer", staff=False, perms=["jobs.view_task"]))
    response = client.get("/tasks/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_staff_without_view_permission_gets_403(tenant: Tenant) -> None:
    client = client_for(make_user("nobody"))
    assert client.get("/tasks/").status_code == 403
    assert client.get("/tenants/").status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_viewer_sees_every_page(viewer: Any, tenant: Tenant, path: str) -> None:
    add_task(tenant)
    tenant_page = viewer.get(f"/tenants/{tenant.slug}/")
    assert tenant_page.status_code == 200
    assert viewer.get(path).status_code == 200


def test_login_page_and_logout(tenant: Tenant) -> None:
    make_user("ops", perms=["jobs.view_task"])
    from django.test import Client

    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200
    assert '<label for="id_username">' in html(page) and '<label for="id_password">' in html(page)
    assert 'class="skip-link" href="#main"' in html(page)
    response = client.post("/login/", {"username": "ops", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_viewer_gets_no_action_buttons(viewer: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    failed = failed_task(tenant, "send_email", ("SMTPError", "down"))
    listing = html(viewer.get("/tasks/"))
    assert f'data-task-id="{pending.pk}"' in listing
    assert "/cancel/" not in listing and "/retry/" not in listing and "tasks/bulk" not in listing
    detail = html(viewer.get(f"/tasks/{failed.pk}/"))
    assert "Retry with fresh attempts" not in detail and "/retry/" not in detail
    dead = html(viewer.get("/dead-letter/"))
    assert "dead-letter/requeue" not in dead
    tenant_page = html(viewer.get(f"/tenants/{tenant.slug}/"))
    assert 'name="weight"' not in tenant_page and "Create key" not in tenant_page and "/revoke/" not in tenant_page
    assert "view only" in listing


def test_operator_gets_action_buttons(operator: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    failed = failed_task(tenant, "send_email", ("SMTPError", "down"))
    listing = html(operator.get("/tasks/"))
    assert f"/tasks/{pending.pk}/cancel/" in listing and f"/tasks/{failed.pk}/retry/" in listing
    assert f"/tasks/{pending.pk}/retry/" not in listing  # only what the state allows
    assert "/tasks/bulk/" in listing
    assert "dead-letter/requeue" in html(operator.get("/dead-letter/"))
    tenant_page = html(operator.get(f"/tenants/{tenant.slug}/"))
    assert 'name="weight"' in tenant_page and "Create key" in tenant_page


def test_viewer_posts_answer_403_and_change_nothing(viewer: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    failed = failed_task(tenant, "send_email", ("SMTPError", "down"))
    key, raw = keys.issue(tenant, name="existing")
    posts: list[tuple[str, dict[str, str]]] = [
        (f"/tasks/{pending.pk}/cancel/", {}),
        (f"/tasks/{failed.pk}/retry/", {}),
        ("/tasks/bulk/", {"action": "cancel", "confirm": "yes", "upto": str(pending.pk + 10)}),
        ("/tasks/bulk/", {"action": "retry", "confirm": "yes", "upto": str(failed.pk + 10)}),
        ("/dead-letter/requeue/", {"scope": "all", "confirm": "yes"}),
        ("/dead-letter/requeue/", {"scope": "group", "type": "send_email", "error_type": "SMTPError",
                                   "error_message": "down", "confirm": "yes"}),
        (f"/tenants/{tenant.slug}/", {"weight": "9", "rate_limit": "5", "rate_window_seconds": "7"}),
        (f"/tenants/{tenant.slug}/keys/", {"name": "sneaky"}),
        (f"/tenants/{tenant.slug}/keys/{key.pk}/revoke/", {}),
    ]
    for path, data in posts:
        assert viewer.post(path, data).status_code == 403, path
        assert viewer.post(path, data, headers=HTMX).status_code == 403, path
    assert statuses(pending, failed) == [Status.PENDING, Status.FAILED]
    tenant.refresh_from_db()
    assert (tenant.weight, tenant.rate_limit) == (1, None)
    assert list(ApiKey.objects.values_list("name", "revoked_at")) == [("existing", None)]
    assert keys.verify(raw) is not None


def test_anonymous_posts_change_nothing(anon: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    response = anon.post(f"/tasks/{pending.pk}/cancel/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert statuses(pending) == [Status.PENDING]


def test_actions_refuse_get(operator: Any, tenant: Tenant) -> None:
    pending = add_task(tenant)
    assert operator.get(f"/tasks/{pending.pk}/cancel/").status_code == 405
    assert statuses(pending) == [Status.PENDING]
