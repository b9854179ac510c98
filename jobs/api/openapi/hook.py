"""The post-processing hook that adds the catalogue's prose, the examples and the event stream."""

from typing import Any

from .examples import REQUESTS, responses
from .operations import OPERATIONS

STREAM_PATH = "/api/sse/events"


def _stream_operation() -> dict[str, Any]:
    summary, description = OPERATIONS["events_stream"]
    return {
        "operationId": "events_stream", "summary": summary, "description": description, "tags": ["api"],
        "security": [{"ApiKeyAuth": []}],
        "parameters": [
            {"name": "all", "in": "query", "schema": {"type": "boolean"},
             "description": "Operator keys: every tenant's events."},
            {"name": "last_event_id", "in": "query", "schema": {"type": "integer"},
             "description": "Resume after this watermark (the `Last-Event-ID` header works too)."},
            {"name": "Last-Event-ID", "in": "header", "schema": {"type": "integer"},
             "description": "Resume after this watermark."},
            *({"name": name, "in": "query", "schema": {"type": "string"}, "description": text} for name, text in (
                ("types", "Only changes of these task types (comma-separated)."),
                ("statuses", "Only changes to these statuses (comma-separated)."),
                ("events", "Only these change events (comma-separated: task.completed, …)."),
                ("task_ids", "Only changes of these task ids (comma-separated)."))),
        ],
        "responses": {
            "200": {"description": "An endless `text/event-stream`: `tasks` and `reset` events, heartbeats.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}, "example": (
                        'id: 1841\nevent: tasks\ndata: {"seq": 1841, "tenant": "acme", "changes": [{"event": '
                        '"task.completed", "task": 42, "type": "send_email", "status": "completed", '
                        '"attempt": 1}]}\n\n')}}},
            "400": {"description": "An unknown or invalid parameter (each named in `errors`).",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
            "401": {"description": "No valid API key."},
            "403": {"description": "`all=true` with a tenant key, or an inactive tenant."},
            "429": {"description": "Too many open streams for the key or tenant (`Retry-After`)."},
        },
    }


def document(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    paths = result.setdefault("paths", {})
    examples = responses()
    paths.setdefault(STREAM_PATH, {"get": _stream_operation()})
    for operations in paths.values():
        for op in operations.values():
            op_id = op.get("operationId", "")
            if op_id in OPERATIONS:
                op["summary"], description = OPERATIONS[op_id]
                op["description"] = f"{description}\n\n{op['description']}" if op.get("description") else description
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and op_id in REQUESTS:
                body["example"] = REQUESTS[op_id]
            for status, response in op.get("responses", {}).items():
                example = examples.get((op_id, status))
                for content in (response.get("content") or {}).values():
                    if example is not None:
                        content["example"] = example
    return result
