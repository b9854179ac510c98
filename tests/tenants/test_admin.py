"""The tenant admin (the concurrency cap listed and editable) and the default cap for new tenants."""

from typing import Any

import pytest
from django.test import Client

from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_admin_adds_a_tenant_with_the_default_cap_and_edits_it(admin_client_: Client, settings: Any) -> None:
    settings.JOBS = {"DEFAULT_MAX_RUNNING": 5}
    form = admin_client_.get("/admin/tenants/tenant/add/").content.decode()
    assert 'name="max_running" value="5"' in form
    response = admin_client_.post("/admin/tenants/tenant/add/", {
        "name": "Initech", "slug": "initech", "weight": "1", "max_running": "5", "active": "on",
        "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    tenant = Tenant.objects.get(slug="initech")
    assert tenant.max_running == 5
    response = admin_client_.post(f"/admin/tenants/tenant/{tenant.pk}/change/", {
        "name": "Initech", "slug": "initech", "weight": "1", "max_running": "", "active": "on",
        "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.max_running is None
    assert b"Max running" in admin_client_.get("/admin/tenants/tenant/").content


def test_tenants_created_in_code_take_the_default_cap(settings: Any) -> None:
    settings.JOBS = {"DEFAULT_MAX_RUNNING": 2}
    assert Tenant.objects.create(name="A", slug="a").max_running == 2
    settings.JOBS = {}
    assert Tenant.objects.create(name="B", slug="b").max_running is None


def test_a_bad_default_cap_is_a_system_check_error(settings: Any) -> None:
    from tenants.checks import check_settings

    settings.JOBS = {"DEFAULT_MAX_RUNNING": 0}
    assert [e.id for e in check_settings()] == ["tenants.E001"]
    settings.JOBS = {"DEFAULT_MAX_RUNNING": 3}
    assert check_settings() == []


@pytest.mark.parametrize(("raw", "expected"), [("4", 4), ("none", None), ("", None)])
def test_the_default_cap_from_the_environment(settings: Any, raw: str, expected: int | None) -> None:
    from tenants.conf import conf

    settings.JOBS_ENV = {"DEFAULT_MAX_RUNNING": raw}
    cap = conf().DEFAULT_MAX_RUNNING
    assert cap == expected
