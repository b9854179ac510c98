"""Schemathesis drives every operation in process with real keys and rows: no 5xx, nothing off-schema."""

import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jobs.api.conf import api_conf
from tests.support.schema import schema

#: What every response must satisfy (schemathesis 4 built-ins; positive_data_acceptance and
#: negative_data_rejection are left out on purpose: the API validates more than the schema says).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


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
    # Its WSGI transport hands the body over as sent, and requests' default asks for gzip: ask for it
    # uncompressed (gzip itself: tests/jobs/api/test_gzip.py).
    case.call_and_validate(headers={"X-API-Key": key, "Accept-Encoding": "identity"}, checks=CHECKS)
