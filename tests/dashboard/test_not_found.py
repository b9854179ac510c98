"""The console's 404 (DEBUG off, as under the test client): styled, with the navigation; the API keeps problem+json."""

import pytest
from django.test import Client

from tests.support.console import html

pytestmark = pytest.mark.django_db


def test_a_missing_task_gets_the_console_page_with_its_navigation(viewer: Client) -> None:
    response = viewer.get("/tasks/987654/")
    assert response.status_code == 404
    page = html(response)
    assert '<nav aria-label="Console sections">' in page and "<h1" in page and "/tasks/987654/" in page
    assert 'href="/dead-letter/"' in page


def test_logged_out_a_missing_page_offers_the_login(anon: Client) -> None:
    response = anon.get("/no/such/page/")
    assert response.status_code == 404 and 'href="/login/"' in html(response)
    assert "Console sections" not in html(response)


def test_api_404_stays_json(anon: Client) -> None:
    response = anon.get("/api/no-such-endpoint/")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/problem+json")
