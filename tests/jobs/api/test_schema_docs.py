"""The schema a client developer reads: every operation summarised and described, request bodies and
the main responses with examples that conform to their own schemas, and the event stream documented."""

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft202012Validator

from jobs.api.openapi.examples import REQUESTS, responses
from jobs.api.openapi.operations import OPERATIONS
from tests.support.schema import METHODS


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items()
            for method, op in item.items() if method in METHODS]


def test_every_operation_has_a_summary_and_a_description(document: dict[str, Any]) -> None:
    seen = set()
    for method, path, op in operations(document):
        assert op.get("summary"), f"{method.upper()} {path} has no summary (jobs/api/openapi/operations.py)"
        assert len(op.get("description", "")) > 20, f"{method.upper()} {path} has no description"
        seen.add(op["operationId"])
    assert set(OPERATIONS) <= seen, f"described but not in the schema: {set(OPERATIONS) - seen}"


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` in JSON Schema's terms (a null alternative)."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    # OpenAPI 3.0 refs point at #/components/...: give the validator the whole document as the root.
    root = {"$ref": "#/x-target", "x-target": schema, "components": document["components"]}
    return Draft202012Validator(_json_schema(root))


def test_examples_conform_to_their_schemas(document: dict[str, Any]) -> None:
    by_id = {op["operationId"]: op for _, _, op in operations(document)}
    examples = responses()
    assert set(REQUESTS) <= set(by_id) and {op_id for op_id, _ in examples} <= set(by_id)
    for op_id, example in REQUESTS.items():
        content = by_id[op_id]["requestBody"]["content"]["application/json"]
        assert content["example"] == example
        errors = [e.message for e in _validator(document, content["schema"]).iter_errors(example)]
        assert not errors, f"{op_id} request example: {errors}"
    for (op_id, status), example in examples.items():
        [content] = by_id[op_id]["responses"][status]["content"].values()
        assert content["example"] == example
        errors = [e.message for e in _validator(document, content["schema"]).iter_errors(example)]
        assert not errors, f"{op_id} {status} response example: {errors}"
    # Every operation that takes a JSON body shows an example of it.
    for _, path, op in operations(document):
        if "application/json" in op.get("requestBody", {}).get("content", {}):
            assert op["operationId"] in REQUESTS, f"{path}: no request example"


def test_the_event_stream_is_documented(document: dict[str, Any]) -> None:
    stream = document["paths"]["/api/sse/events"]["get"]
    assert stream["security"] == [{"ApiKeyAuth": []}]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    # The documented query parameters are exactly those the stream accepts (it refuses any other).
    from jobs.api.stream import KNOWN_PARAMS

    assert {p["name"] for p in stream["parameters"] if p["in"] == "query"} == set(KNOWN_PARAMS)
    assert any(p["name"] == "Last-Event-ID" and p["in"] == "header" for p in stream["parameters"])
    assert {"400", "401", "403", "429"} <= set(stream["responses"])
