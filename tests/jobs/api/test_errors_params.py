"""Unknown query parameters are a 400 naming each of them (``jobs.api.params``), on every API endpoint."""

import json
import re
from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.urls import URLPattern, resolve

from jobs.api import urls
from jobs.api.params import StrictQuery
from jobs.api.views.docs import DocsView, SchemaView
from jobs.lifecycle import Status
from tests.support.api import Caller, assert_problem
from tests.support.builders import make_task
from tests.support.schema import STREAMS

pytestmark = pytest.mark.django_db


def test_a_misspelt_filter_is_a_400_naming_it_with_the_closest_known(api: Caller) -> None:
    make_task(api.tenant, status=Status.COMPLETED)
    body = assert_problem(api.get("/api/tasks", {"stauts": "failed"}), 400, "stauts")
    assert body["type"].endswith("/problems/validation")
    assert "'status'" in body["errors"][0]["message"]


def test_known_parameters_still_pass(api: Caller) -> None:
    failed = make_task(api.tenant, status=Status.FAILED)
    make_task(api.tenant, status=Status.COMPLETED)
    response = api.get("/api/tasks", {"status": "failed", "page_size": 5, "sort_by": "id", "order": "asc",
                                      "all": "false", "type": "noop"})
    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()["data"]] == [failed.pk]
    assert api.get("/api/tasks", {"cursor": ""}).status_code == 200


def test_every_unknown_parameter_is_listed_at_once(api: Caller) -> None:
    body = assert_problem(api.get("/api/tasks", {"stauts": "failed", "pagesize": 2, "zzz": 1}), 400,
                          "stauts", "pagesize", "zzz")
    assert len(body["errors"]) == 3
    by_field = {e["field"]: e["message"] for e in body["errors"]}
    assert "'page_size'" in by_field["pagesize"]
    assert "known:" in by_field["zzz"]  # nothing close: the list of what is known


@pytest.mark.parametrize(("path", "params", "operator"), [
    ("/api/tasks/{task}", {"wiat": "5"}, False),
    ("/api/tasks/{task}/why", {"x": "1"}, False),
    ("/api/analytics", {"al": "true"}, False),
    ("/api/analytics/throughput", {"windw": "300"}, False),
    ("/api/analytics/types", {"type": "noop"}, False),
    ("/api/workers", {"everything": "1"}, False),
    ("/api/audit", {"acton": "task.cancel"}, True),
    ("/api/schedules", {"name": "x"}, True),
    ("/api/pauses", {"kind": "queue"}, True),
    ("/api/tenants/{slug}", {"expand": "keys"}, True),
    ("/api/bulk/1", {"all": "true"}, False),
])
def test_unknown_parameters_on_other_reads(api: Caller, operator_api: Caller, path: str, params: dict[str, str],
                                           operator: bool) -> None:
    caller = operator_api if operator else api
    task = make_task(caller.tenant)
    url = path.format(task=task.pk, slug=caller.tenant.slug)
    assert_problem(caller.get(url, params), 400, *params)


def test_the_closest_known_parameter_is_suggested(api: Caller) -> None:
    body = assert_problem(api.get("/api/analytics/throughput", {"windw": "300"}), 400, "windw")
    assert "'window'" in body["errors"][0]["message"]


def test_writes_refuse_unknown_parameters_and_write_nothing(api: Caller) -> None:
    from jobs.models import Task

    # A filter of the list is not a parameter of a submission: it would be silently ignored there.
    assert_problem(api.post("/api/tasks?status=failed", {"type": "noop"}), 400, "status")
    assert_problem(api.post("/api/tasks/batch?atomic=1", {"tasks": [{"type": "noop"}]}), 400, "atomic")
    task = make_task(api.tenant)
    assert_problem(api.post(f"/api/tasks/{task.pk}/cancel?force=1"), 400, "force")
    assert Task.objects.count() == 1
    assert Task.objects.get().status == Status.PENDING


def test_the_health_check_refuses_them_too() -> None:
    assert_problem(Client().get("/api/health", {"verbose": "1"}), 400, "verbose")
    assert Client().get("/api/health").status_code == 200


def test_a_caller_without_a_key_gets_401_not_a_parameter_check() -> None:
    assert_problem(Client().get("/api/tasks", {"stauts": "failed"}), 401)


def _api_views() -> list[tuple[str, type]]:
    out = []
    for pattern in urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        out.append((str(pattern.pattern), pattern.callback.view_class))  # type: ignore[attr-defined]
    return out


def test_every_api_view_checks_its_query_string() -> None:
    """A new endpoint cannot forget the check: every view of the API's URL conf mixes it in."""
    plain = [route for route, view in _api_views() if not issubclass(view, StrictQuery)]
    assert plain == []


def _schema() -> dict[str, Any]:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_every_documented_parameter_is_accepted_and_reads_accept_only_documented_ones() -> None:
    """The schema and the check agree: a documented parameter never answers 400, and no GET takes an
    undocumented one."""
    samples = {"slug": "acme", "name": "nightly", "kind": "queue", "value": "q"}
    checked = 0
    for path, item in _schema()["paths"].items():
        if path in STREAMS:
            continue  # a channels consumer with its own check (tests/jobs/api/test_stream_filters.py)
        concrete = re.sub(r"\{(\w+)\}", lambda m: samples.get(m.group(1), "1"), path)
        view = resolve(concrete).func.view_class  # type: ignore[attr-defined]
        for method, operation in item.items():
            if method not in ("get", "post", "patch", "delete") or not issubclass(view, StrictQuery):
                continue
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            accepted = view().accepted_query_params(method)
            assert declared <= accepted, (method, path, declared - accepted)
            if method == "get":
                assert accepted <= declared, (method, path, accepted - declared)
            checked += 1
    assert checked >= 25


def test_the_schema_and_its_ui_take_what_drf_spectacular_reads() -> None:
    factory = RequestFactory(HTTP_HOST="localhost")
    schema = SchemaView.as_view(authentication_classes=[], permission_classes=[])
    ui = DocsView.as_view(url_name="api-schema", authentication_classes=[], permission_classes=[])
    ok = schema(factory.get("/api/schema/", {"format": "json", "lang": "en"}))
    ok.render()
    assert ok.status_code == 200 and ok["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert ui(factory.get("/api/docs/", {"lang": "en"})).status_code == 200
    for view, path in ((schema, "/api/schema/"), (ui, "/api/docs/")):
        refused = view(factory.get(path, {"formt": "json"}))
        refused.render()
        # JSON whatever the view's own renderers (YAML, HTML).
        assert (refused.status_code, refused["Content-Type"]) == (400, "application/problem+json")
        assert [e["field"] for e in json.loads(refused.content)["errors"]] == ["formt"]


def test_every_operation_declares_its_400_problem() -> None:
    """Any endpoint may refuse a query parameter: the schema says so, with the problem's shape."""
    schema = _schema()
    missing = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "patch", "delete"):
                continue
            answer = operation["responses"].get("400", {}).get("content", {}).get("application/problem+json")
            if answer is None:
                missing.append(f"{method} {path}")
    assert missing == []
    problem = schema["components"]["schemas"]["Problem"]["properties"]
    assert problem["errors"]["type"] == "array"
