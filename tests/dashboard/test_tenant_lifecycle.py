"""Tenants created, renamed and (de)activated from the console: operator-only, confirmed, audited."""

import pytest
from django.test import Client

from jobs.lifecycle import Status
from tenants import keys
from tenants.models import Tenant
from tests.support.audit import only
from tests.support.builders import add_task
from tests.support.console import OPERATOR_PERMS, client_for, counter, html, make_user, row_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def creator(db: None) -> Client:
    return client_for(make_user("creator", perms=[*OPERATOR_PERMS, "tenants.add_tenant"]))


def test_an_operator_creates_a_tenant_and_it_is_audited(creator: Client) -> None:
    assert "Create a tenant" in html(creator.get("/tenants/"))
    response = creator.post("/tenants/", {"name": "Wayne Enterprises", "slug": "", "weight": "3"})
    assert response.status_code == 302 and response["Location"] == "/tenants/wayne-enterprises/"
    tenant = Tenant.objects.get(slug="wayne-enterprises")
    assert (tenant.name, tenant.weight, tenant.active) == ("Wayne Enterprises", 3, True)
    entry = only("tenant.create", actor="creator", target="tenant wayne-enterprises")
    assert entry.source == "console"


def test_bad_input_is_a_form_error_naming_the_field(creator: Client, tenant: Tenant) -> None:
    response = creator.post("/tenants/", {"name": "", "weight": "0"})
    assert response.status_code == 400
    page = html(response)
    assert page.count('class="error"') >= 2 and "Create a tenant" in page
    taken = creator.post("/tenants/", {"name": tenant.name, "slug": tenant.slug, "weight": "1"})
    assert taken.status_code == 400 and "already exists" in html(taken)
    derived = creator.post("/tenants/", {"name": tenant.slug, "weight": "1"})
    assert derived.status_code == 400 and "choose another slug" in html(derived)
    assert Tenant.objects.count() == 1


def test_without_the_add_permission_no_form_and_a_refusal(operator: Client, viewer: Client) -> None:
    assert "Create a tenant" not in html(operator.get("/tenants/"))
    assert operator.post("/tenants/", {"name": "Sneaky", "weight": "1"}).status_code == 403
    assert viewer.post("/tenants/", {"name": "Sneaky", "weight": "1"}).status_code == 403
    assert not Tenant.objects.filter(slug="sneaky").exists()


def test_rename_keeps_the_slug_and_is_audited(operator: Client, viewer: Client, tenant: Tenant) -> None:
    assert viewer.post(f"/tenants/{tenant.slug}/rename/", {"name": "X"}).status_code == 403
    response = operator.post(f"/tenants/{tenant.slug}/rename/", {"name": "  Acme Holdings "})
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.name, tenant.slug) == ("Acme Holdings", "acme")
    entry = only("tenant.update", actor="operator")
    assert entry.counts["after"] == {"name": "Acme Holdings"}
    blank = operator.post(f"/tenants/{tenant.slug}/rename/", {"name": "   "})
    assert blank.status_code == 400 and 'role="alert"' in html(blank)


def test_deactivate_asks_first_with_counts_then_acts(operator: Client, viewer: Client, tenant: Tenant) -> None:
    add_task(tenant)
    add_task(tenant, status=Status.SCHEDULED)
    keys.issue(tenant, name="svc")
    assert viewer.post(f"/tenants/{tenant.slug}/active/", {"active": "no"}).status_code == 403
    confirm = operator.post(f"/tenants/{tenant.slug}/active/", {"active": "no"})
    assert confirm.status_code == 200
    page = html(confirm)
    assert 'data-waiting>2<' in page and 'data-keys>1<' in page and 'name="confirm" value="yes"' in page
    tenant.refresh_from_db()
    assert tenant.active  # asking changed nothing
    done = operator.post(f"/tenants/{tenant.slug}/active/", {"active": "no", "confirm": "yes"})
    assert done.status_code == 302
    tenant.refresh_from_db()
    assert not tenant.active
    assert only("tenant.update", actor="operator").counts["after"] == {"active": False}
    again = operator.post(f"/tenants/{tenant.slug}/active/", {"active": "yes", "confirm": "yes"})
    assert again.status_code == 302
    tenant.refresh_from_db()
    assert tenant.active


def test_tenant_page_numbers_link_to_its_tasks(viewer: Client, tenant: Tenant, other_tenant: Tenant) -> None:
    mine = add_task(tenant)
    add_task(other_tenant)
    page = html(viewer.get(f"/tenants/{tenant.slug}/"))
    assert 'id="tenant-numbers"' in page
    fragment = html(viewer.get(f"/tenants/{tenant.slug}/numbers/"))
    assert f'href="/tasks/?tenant={tenant.slug}&amp;status=pending"' in fragment
    assert counter(fragment, "pending") == "1"
    assert row_ids(viewer.get(f"/tasks/?tenant={tenant.slug}&status=pending")) == [mine.pk]
