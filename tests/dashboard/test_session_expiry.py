"""An htmx request without a login (the session expired) is sent to the login page, never answered with it."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from jobs.services.enqueue import enqueue

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/tasks/?status=failed"}


def test_an_htmx_fragment_after_the_session_ended_is_401_with_a_redirect_to_the_login(anon: Client) -> None:
    response = anon.get(reverse("dashboard:tasks"), headers=HTMX)
    assert response.status_code == 401
    target = urlsplit(response["HX-Redirect"])
    assert target.path == reverse("dashboard:login")
    assert parse_qs(target.query)["next"] == ["/tasks/?status=failed"], "back to the page the browser shows"
    assert b"<form" not in response.content, "no login form to paste into a panel"


def test_an_htmx_action_after_the_session_ended_changes_nothing(anon: Client, tenant) -> None:
    task = enqueue("noop", tenant=tenant)
    response = anon.post(reverse("dashboard:task_cancel", args=[task.pk]), headers=HTMX)
    assert response.status_code == 401 and response["HX-Redirect"].startswith(reverse("dashboard:login"))
    task.refresh_from_db()
    assert task.status == "pending"


def test_a_plain_request_is_still_redirected_and_a_live_session_still_served(anon: Client, viewer: Client) -> None:
    plain = anon.get(reverse("dashboard:tasks"))
    assert plain.status_code == 302 and urlsplit(plain["Location"]).path == reverse("dashboard:login")
    assert "HX-Redirect" not in plain
    live = viewer.get(reverse("dashboard:tasks"), headers=HTMX)
    assert live.status_code == 200 and "HX-Redirect" not in live
