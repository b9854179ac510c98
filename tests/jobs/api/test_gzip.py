"""gzip of JSON answers (``engine_site.compression``): only when accepted, never for a secret."""

import gzip
import json

import pytest
from django.http import HttpResponse, JsonResponse
from django.test import RequestFactory

from engine_site.compression import JsonGZipMiddleware
from tests.support.api import Caller
from tests.support.builders import add_task

pytestmark = pytest.mark.django_db


def test_json_lists_are_gzipped_when_accepted(api: Caller) -> None:
    for n in range(5):
        add_task(api.tenant, payload={"n": n})
    plain = api.get("/api/tasks")
    assert "Content-Encoding" not in plain and "Accept-Encoding" in plain["Vary"]
    packed = api.get("/api/tasks", HTTP_ACCEPT_ENCODING="gzip, br")
    assert packed["Content-Encoding"] == "gzip"
    assert len(packed.content) < len(plain.content)
    assert json.loads(gzip.decompress(packed.content)) == plain.json()
    problem = api.get("/api/tasks", {"expand": "nope" * 60}, HTTP_ACCEPT_ENCODING="gzip")
    assert problem.status_code == 400 and problem["Content-Encoding"] == "gzip", "problem documents are JSON too"


def _through(response: HttpResponse) -> HttpResponse:
    request = RequestFactory().get("/", HTTP_ACCEPT_ENCODING="gzip")
    return JsonGZipMiddleware(lambda r: response)(request)  # type: ignore[return-value]


def test_secrets_and_pages_are_not_compressed() -> None:
    body = {"secret": "whsec_" + "s" * 64, "url": "https://example.com/" + "x" * 300}
    assert _through(JsonResponse(body))["Content-Encoding"] == "gzip"
    secret = JsonResponse(body)
    secret["Cache-Control"] = "no-store"
    assert not _through(secret).has_header("Content-Encoding"), "a no-store answer carries a secret: BREACH"
    assert json.loads(_through(secret).content) == body
    page = HttpResponse("<p>" + "x" * 500 + "</p>", content_type="text/html")
    assert not _through(page).has_header("Content-Encoding"), "JSON only"
