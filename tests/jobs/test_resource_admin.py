"""The Resource admin: listed with what is available now; added, edited and deleted through the service."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from jobs.models import Resource, ResourceBucket

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin() -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_admin_adds_edits_lists_and_deletes_a_resource(admin: Client) -> None:
    response = admin.post("/admin/jobs/resource/add/", {"name": "partner-api", "rate": "5", "per_seconds": "1"})
    assert response.status_code == 302, response.content.decode()[:3000]
    r = Resource.objects.get(name="partner-api")
    assert (r.rate, r.per_seconds, r.per_tenant) == (5, 1.0, False)
    assert ResourceBucket.objects.filter(resource=r, scope=0).exists(), "written through the service"
    listing = admin.get("/admin/jobs/resource/").content.decode()
    assert "partner-api" in listing and "5/5" in listing
    response = admin.post(f"/admin/jobs/resource/{r.pk}/change/", {"rate": "7", "per_seconds": "2",
                                                                   "per_tenant": "on"})
    assert response.status_code == 302, response.content.decode()[:3000]
    r.refresh_from_db()
    assert (r.name, r.rate, r.per_seconds, r.per_tenant) == ("partner-api", 7, 2.0, True)
    assert not ResourceBucket.objects.exists(), "the scope changed: the buckets went"
    response = admin.post(f"/admin/jobs/resource/{r.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Resource.objects.exists()


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "bad name", "rate": "5", "per_seconds": "1"}, "1 to 100 characters"),
    ({"name": "ok", "rate": "20000", "per_seconds": "1"}, "a whole number from 1 to 10000"),
    ({"name": "ok", "rate": "5", "per_seconds": "0"}, "at least 0.001"),
])
def test_admin_refuses_what_the_cli_refuses(admin: Client, data: dict[str, str], message: str) -> None:
    response = admin.post("/admin/jobs/resource/add/", data)
    assert response.status_code == 200 and message in response.content.decode()
    assert not Resource.objects.exists()
