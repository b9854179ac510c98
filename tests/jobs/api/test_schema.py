"""The HTTP API against its own OpenAPI schema.

* ``manage.py spectacular --fail-on-warn --validate`` succeeds; the schema declares the API-key
  scheme (``X-API-Key`` header) on every operation but the health checks, and ``/api/docs/``
  serves Swagger UI from the drf-spectacular-sidecar static files, not from a CDN;
* schemathesis drives every operation of the schema through the real WSGI application, in
  process, with a real tenant key (and sometimes an operator key) and real tasks in every
  status: no 5xx, no undocumented status code or content type, no response body or header
  that breaks the schema;
* inputs schemathesis does not reliably produce answer their documented status with an
  RFC 9457 problem document, and so does every secured operation called without a key.

Bounded for CI: ``MAX_EXAMPLES`` generated cases per operation (plus schemathesis' coverage
cases), no shrinking, no deadline, derandomized, no example database.
"""

import base64
import json
import os
import re
import subprocess
import sys
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine_site.wsgi import application
from jobs.api.conf import api_conf
from jobs.lifecycle import Status
from jobs.models import Task, WorkerProcess
from tenants import keys
from tenants.models import Tenant
from tests.support import ROOT

MAX_EXAMPLES = 25
UNSECURED = {"/api/health", "/api/health/ready"}
PROBLEM = "application/problem+json"
METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
#: What every response must satisfy (schemathesis 4 built-ins; positive_data_acceptance and
#: negative_data_rejection are left out on purpose: the API validates more than the schema says).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

CONFIG = schemathesis.Config.from_dict({
    "suppress-health-check": ["all"],
    "warnings": False,
    "generation": {
        "max-examples": MAX_EXAMPLES,
        "no-shrink": True,
        "deterministic": True,
        "database": "none",
        # Requests carry a real key (see the schemathesis test); a generated one would only get 401.
        "with-security-parameters": False,
    },
})
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=CONFIG)
OPERATIONS = sorted(
    (method, path, operation)
    for path, item in schema.raw_schema["paths"].items()
    for method, operation in item.items()
    if method in METHODS
)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def wsgi_in_test_transaction(db: None) -> Iterator[None]:
    """Let the real WSGI application serve inside the test's transaction.

    Django's WSGI handler closes the connection when a request starts and when it finishes;
    Django's test client suspends that in the same way, else the test transaction (and the
    rows the fixtures created) would be closed under the test.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_tenant(db: None) -> Tenant:
    # A limit no run reaches: 429s would hide everything else.
    return Tenant.objects.create(name="Schema Co", slug="schema-co", rate_limit=1_000_000_000)


@pytest.fixture
def api_keys(api_tenant: Tenant) -> dict[str, str]:
    keys.forget()
    _, tenant_key = keys.issue(api_tenant, name="schemathesis")
    _, operator_key = keys.issue(api_tenant, name="schemathesis-operator", operator=True)
    return {"tenant": tenant_key, "operator": operator_key}


@pytest.fixture
def task_ids(api_tenant: Tenant) -> list[int]:
    """Tasks of the key's tenant in every status, one of another tenant, and a live worker."""
    now = timezone.now()
    other = Tenant.objects.create(name="Other Co", slug="other-co")
    error = {"at": now.isoformat(), "type": "RuntimeError", "message": "boom", "worker": "host:2:def"}
    rows = [
        Task(tenant=api_tenant, type="noop", status=Status.PENDING, idempotency_key="schema-pending",
             payload={"n": 1, "nested": {"list": [1, "two", None]}}),
        Task(tenant=api_tenant, type="sleep", status=Status.SCHEDULED, run_at=now + timedelta(hours=1),
             payload={"seconds": 1}),
        Task(tenant=api_tenant, type="record", status=Status.RUNNING, attempts=1, worker="host:1:abc",
             started_at=now - timedelta(seconds=3), lease_expires_at=now + timedelta(seconds=20)),
        Task(tenant=api_tenant, type="noop", status=Status.COMPLETED, attempts=1, worker="host:1:abc",
             result={"ok": True}, started_at=now - timedelta(seconds=5), finished_at=now - timedelta(seconds=4)),
        Task(tenant=api_tenant, type="fail", status=Status.FAILED, attempts=2, max_retries=1, worker="host:2:def",
             errors=[{**error, "attempt": 1, "traceback": "Traceback …"}, {**error, "attempt": 2}],
             started_at=now - timedelta(seconds=9), finished_at=now - timedelta(seconds=8)),
        Task(tenant=api_tenant, type="noop", status=Status.CANCELLED, finished_at=now),
        Task(tenant=other, type="noop", status=Status.PENDING),
    ]
    for row in rows:
        row.save()
    WorkerProcess.objects.create(
        id="host:1:abc", instance="host", hostname="host", pid=1, queues="default,bulk", threads=2,
        slots=[
            {"slot": 0, "task_id": rows[2].pk, "type": "record", "tenant_id": api_tenant.pk,
             "started_at": (now - timedelta(seconds=3)).isoformat()},
            {"slot": 1, "task_id": None, "type": None, "tenant_id": None, "started_at": None},
        ],
    )
    return [row.pk for row in rows]


# --- the schema itself ----------------------------------------------------------------------


def test_spectacular_validates_the_schema_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "engine_site.settings"}
    proc = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--fail-on-warn", "--validate", "--format", "openapi-json",
         "--file", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"spectacular failed:\n{proc.stdout}\n{proc.stderr}"
    document = json.loads(out.read_text())
    assert document["paths"]

    assert document["components"]["securitySchemes"]["ApiKeyAuth"] | {"description": ""} == {
        "type": "apiKey", "in": "header", "name": "X-API-Key", "description": "",
    }
    default_security = document.get("security", [])
    seen = set()
    for path, item in document["paths"].items():
        assert path.startswith("/api/"), path
        assert not path.startswith(("/api/schema", "/api/docs")), f"{path} should not be in the schema"
        for method, operation in item.items():
            if method not in METHODS:
                continue
            seen.add(path)
            security = operation.get("security", default_security)
            if path in UNSECURED:
                assert security in ([], [{}]), f"{method.upper()} {path} should not need a key"
            else:
                assert security == [{"ApiKeyAuth": []}], f"{method.upper()} {path} does not require the API key"
    assert seen >= UNSECURED
    assert {"/api/tasks", "/api/tasks/{id}", "/api/tasks/batch", "/api/analytics", "/api/workers"} <= seen


def test_docs_serve_swagger_ui_from_the_sidecar(client: Client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert 'id="swagger-ui"' in html and "SwaggerUIBundle(" in html
    assert 'url: "/api/schema/"' in html
    assert "cdn.jsdelivr" not in html and "unpkg" not in html
    sidecar = f"{settings.STATIC_URL}drf_spectacular_sidecar/swagger-ui-dist/"  # STATIC_URL is absolute here
    assert sidecar.startswith("/"), sidecar
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith(sidecar) for url in assets), assets
    for name in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert sidecar + name in assets, f"{name} is not served from the sidecar's static files"
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{name}"), f"{name} is not installed"

    served = client.get("/api/schema/?format=json")
    assert served.status_code == 200
    assert json.loads(served.content)["info"]["title"] == "Job engine API"


# --- schemathesis ---------------------------------------------------------------------------


def _one_in(n: int, case: Any) -> bool:
    """True for about one generated case in ``n``; the same cases every run (unlike hash())."""
    query = sorted((case.query or {}).items(), key=str)
    return zlib.crc32(f"{case.method} {case.formatted_path} {query}".encode()) % n == 0


def _point_at_real_rows(case: Any, ids: list[int]) -> None:
    """Send most generated ids to real tasks (every status, and another tenant's); keep the rest."""
    value = (case.path_parameters or {}).get("id")
    if isinstance(value, int) and not isinstance(value, bool) and value % 4:
        case.path_parameters["id"] = ids[value % len(ids)]


def _name_a_real_type(case: Any) -> None:
    """Make about half the generated submissions name a registered type, so some are accepted."""
    body = case.body
    if not isinstance(body, dict):
        return
    specs = body["tasks"] if isinstance(body.get("tasks"), list) else [body]
    for spec in specs:
        if isinstance(spec, dict) and isinstance(spec.get("type"), str) and len(spec["type"]) % 2 == 0:
            spec["type"] = "noop"


@schema.parametrize()
def test_api_conforms_to_its_schema(case: Any, wsgi_in_test_transaction: None, api_keys: dict[str, str],
                                    task_ids: list[int]) -> None:
    assert not api_conf().DEMO_MODE
    _point_at_real_rows(case, task_ids)
    _name_a_real_type(case)
    # Mostly the tenant's key; an operator key for a third of the cases, so all=true reads every tenant.
    key = api_keys["operator"] if _one_in(3, case) else api_keys["tenant"]
    case.call_and_validate(headers={"X-API-Key": key}, checks=CHECKS)


# --- what schemathesis does not reliably send ---------------------------------------------------


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


JSON = "application/json"
EDGE_CASES = [
    # (id, method, path, query, body, content type, expected status)
    ("body-is-a-json-array", "post", "/api/tasks", None, "[1, 2]", JSON, 400),
    ("batch-body-is-a-json-array", "post", "/api/tasks/batch", None, '[{"type": "noop"}]', JSON, 400),
    ("malformed-json", "post", "/api/tasks", None, '{"type": ', JSON, 400),
    ("unknown-task-type", "post", "/api/tasks", None, '{"type": "no-such-type"}', JSON, 400),
    ("unknown-field", "post", "/api/tasks", None, '{"type": "noop", "colour": "red"}', JSON, 400),
    ("huge-page-number", "get", "/api/tasks", {"page": str(10**30)}, None, None, 400),
    ("last-allowed-page-is-empty", "get", "/api/tasks", {"page": "10000000", "page_size": "100"}, None, None, 200),
    ("page-size-zero", "get", "/api/tasks", {"page_size": "0"}, None, None, 400),
    ("cursor-garbage", "get", "/api/tasks", {"cursor": "garbage"}, None, None, 400),
    ("cursor-empty-is-the-first-page", "get", "/api/tasks", {"cursor": ""}, None, None, 200),
    ("sort-by-payload", "get", "/api/tasks", {"sort_by": "payload"}, None, None, 400),
    ("unicode-search", "get", "/api/tasks", {"q": "ünïcødé 🚀 タスク"}, None, None, 200),
    ("unknown-status-filter", "get", "/api/tasks", {"status": "pending,bogus"}, None, None, 400),
    ("fractional-priority-filter", "get", "/api/tasks", {"priority": "2.5"}, None, None, 400),
    ("all-is-not-a-boolean", "get", "/api/tasks", {"all": "maybe"}, None, None, 400),
    ("all-needs-an-operator-key", "get", "/api/tasks", {"all": "true"}, None, None, 403),
    ("payload-over-64-kib", "post", "/api/tasks", None,
     json.dumps({"type": "noop", "payload": {"blob": "x" * 70 * 1024}}), JSON, 413),
    ("body-over-the-size-limit", "post", "/api/tasks", None,
     json.dumps({"type": "noop", "payload": {"blob": "x" * 90 * 1024}}), JSON, 413),
    ("form-encoded-body", "post", "/api/tasks", None, "type=noop", "application/x-www-form-urlencoded", 415),
    ("text-body", "post", "/api/tasks", None, '{"type": "noop"}', "text/plain", 415),
    ("delete-the-collection", "delete", "/api/tasks", None, None, None, 405),
    ("task-of-another-tenant", "get", "/api/tasks/{other}", None, None, None, 404),
    ("task-id-beyond-bigint", "get", "/api/tasks/" + "9" * 30, None, None, None, 404),
    ("cancel-a-finished-task", "post", "/api/tasks/{completed}/cancel", None, None, None, 409),
    ("retry-a-pending-task", "post", "/api/tasks/{pending}/retry", None, None, None, 409),
    # Found while writing this file: each answers 500 today (see the report that came with it).
    ("cursor-with-an-infinite-id", "get", "/api/tasks", {"cursor": _cursor('{"id": 1e400, "o": "asc"}')},
     None, None, 400),
    ("created-after-out-of-range", "get", "/api/tasks", {"created_after": "9999-12-31T23:59:59-05:00"},
     None, None, 400),
    ("finished-before-out-of-range", "get", "/api/tasks", {"finished_before": "0001-01-01T00:00:00+05:00"},
     None, None, 400),
    ("run-at-out-of-range", "post", "/api/tasks", None, '{"type": "noop", "run_at": "9999-12-31T23:59:59-05:00"}',
     JSON, 400),
    ("deeply-nested-json", "post", "/api/tasks", None, _nested(5000), JSON, 400),
    ("deeply-nested-json-in-a-batch", "post", "/api/tasks/batch", None, '{"tasks": ' + _nested(5000) + "}",
     JSON, 400),
    ("lone-surrogate-in-payload", "post", "/api/tasks", None, '{"type": "noop", "payload": {"x": "\\ud800"}}',
     JSON, 400),
    ("lone-surrogate-in-idempotency-key", "post", "/api/tasks", None,
     '{"type": "noop", "idempotency_key": "\\udfff"}', JSON, 400),
    ("lone-surrogate-in-queue", "post", "/api/tasks", None, '{"type": "noop", "queue": "q\\ud800"}', JSON, 400),
    ("lone-surrogate-in-a-batch", "post", "/api/tasks/batch", None,
     '{"tasks": [{"type": "noop", "payload": {"x": "\\ud800"}}]}', JSON, 400),
]
#: Words an answer must not contain: MariaDB's JSON check constraint surfaces as a key collision.
MUST_NOT_SAY = {"lone-surrogate-in-a-batch": "colliding"}


def _documented(method: str, path: str) -> set[str] | None:
    """Documented status codes of the operation serving ``method path`` (None: no such operation)."""
    actual = path.split("/")
    for op_method, op_path, operation in OPERATIONS:
        template = op_path.split("/")
        if op_method == method and len(template) == len(actual) and all(
            t == a or (t == "{id}" and a.isdigit()) for t, a in zip(template, actual, strict=True)
        ):
            return set(operation["responses"])
    return None


def _assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response["Content-Type"].split(";")[0] == PROBLEM, response["Content-Type"]
    body = json.loads(response.content)
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == status, body
    assert isinstance(body["title"], str) and body["title"] and isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize(("method", "path", "query", "body", "content_type", "expected"),
                         [pytest.param(*case[1:], id=case[0]) for case in EDGE_CASES])
def test_edge_inputs_get_their_documented_answer(
    method: str, path: str, query: dict[str, str] | None, body: str | None, content_type: str | None,
    expected: int, api_keys: dict[str, str], task_ids: list[int], request: pytest.FixtureRequest,
) -> None:
    by_status = {"pending": task_ids[0], "completed": task_ids[3], "other": task_ids[-1]}
    path = path.format(**by_status)
    url = path + ("?" + urlencode(query) if query else "")
    client = Client(raise_request_exception=False)
    kwargs: dict[str, Any] = {"headers": {"X-API-Key": api_keys["tenant"]}}
    if body is not None:
        kwargs |= {"data": body, "content_type": content_type}
    response = getattr(client, method)(url, **kwargs)

    reply = response.content[:300]
    assert response.status_code == expected, f"{method.upper()} {url[:120]}: {response.status_code} {reply!r}"
    documented = _documented(method, path)
    if documented is not None:
        assert str(expected) in documented, f"{expected} is not documented for {method.upper()} {path}"
    if expected >= 400:
        problem = _assert_problem(response, expected)
        unwanted = MUST_NOT_SAY.get(request.node.callspec.id)
        assert not unwanted or unwanted not in json.dumps(problem), problem
    else:
        assert response["Content-Type"].split(";")[0] == JSON
        data = json.loads(response.content)["data"]
        assert isinstance(data, list)


@pytest.mark.parametrize(("method", "path"), [
    pytest.param(method, path, id=f"{method.upper()} {path}")
    for method, path, _ in OPERATIONS if path not in UNSECURED
])
def test_a_missing_key_is_a_documented_401(method: str, path: str, db: None) -> None:
    url = path.replace("{id}", "1")
    client = Client(raise_request_exception=False)
    for headers in ({}, {"X-API-Key": "jek_nosuchkey_secret"}, {"Authorization": "Bearer not-a-key"}):
        response = getattr(client, method)(url, headers=headers)
        assert response.status_code == 401, f"{headers}: {response.status_code} {response.content[:200]!r}"
        _assert_problem(response, 401)
        assert response.has_header("WWW-Authenticate")
    assert "401" in (_documented(method, path) or set()), f"401 is not documented for {method.upper()} {path}"
