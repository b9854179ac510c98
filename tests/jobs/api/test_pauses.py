"""GET/POST /api/pauses and DELETE /api/pauses/{kind}/{value}: operator keys pause and resume."""

import pytest

from jobs.lifecycle import Status
from jobs.models import Pause, Task
from tests.support.api import Caller, assert_problem
from tests.support.builders import add_task

pytestmark = pytest.mark.django_db


def test_operator_pauses_lists_and_resumes(operator_api: Caller, api: Caller) -> None:
    response = operator_api.post("/api/pauses", {"kind": "queue", "value": "emails", "reason": "SMTP down"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["value"], body["reason"], body["blocked"]) == ("queue", "emails", "SMTP down", 0)
    assert body["paused_by"] == f"api key {operator_api.key.prefix} (ops)"
    again = operator_api.post("/api/pauses", {"kind": "queue", "value": "emails", "reason": "still"})
    assert again.status_code == 200 and again.json()["reason"] == "still"
    assert again.json()["created_at"] == body["created_at"]  # paused since the first time
    assert operator_api.post("/api/pauses", {"kind": "tenant", "value": "acme"}).status_code == 201
    parked = add_task(api.tenant, "noop", status=Status.BLOCKED, blocked_on="pause", queue="emails")
    listed = operator_api.get("/api/pauses").json()
    assert [(p["kind"], p["value"], p["blocked"]) for p in listed] == [("queue", "emails", 1), ("tenant", "acme", 0)]
    response = operator_api.client.delete("/api/pauses/queue/emails")
    assert response.status_code == 200 and response.json() == {"unblocked": 1}
    assert Task.objects.get(pk=parked.pk).status == Status.PENDING
    assert list(Pause.objects.values_list("kind", flat=True)) == ["tenant"]


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "lane", "value": "x"}, "kind"),
    ({"value": "x"}, "kind"),
    ({"kind": "queue"}, "value"),
    ({"kind": "queue", "value": ""}, "value"),
    ({"kind": "queue", "value": "q" * 65}, "value"),
    ({"kind": "type", "value": "no_such_type"}, "value"),
    ({"kind": "tenant", "value": "nobody"}, "value"),
    ({"kind": "queue", "value": "q", "reason": "r" * 501}, "reason"),
    ({"kind": "queue", "value": "q", "why": "typo"}, "why"),
    ([1, 2], "body"),
])
def test_bad_input_is_400_naming_the_field(operator_api: Caller, body: object, field: str) -> None:
    assert_problem(operator_api.post("/api/pauses", body), 400, field)
    assert not Pause.objects.exists()


def test_resume_of_what_is_not_paused_is_404(operator_api: Caller) -> None:
    assert_problem(operator_api.client.delete("/api/pauses/queue/never"), 404)
    assert_problem(operator_api.client.delete("/api/pauses/lane/x"), 404)


def test_tenant_keys_are_refused(api: Caller, operator_api: Caller) -> None:
    assert_problem(api.post("/api/pauses", {"kind": "tenant", "value": "acme"}), 403)
    assert_problem(api.get("/api/pauses"), 403)
    operator_api.post("/api/pauses", {"kind": "queue", "value": "emails"})
    assert_problem(api.client.delete("/api/pauses/queue/emails"), 403)
    assert_problem(api.client.delete("/api/pauses/queue/never"), 403)  # 403 before 404
    assert list(Pause.objects.values_list("value", flat=True)) == ["emails"]


def test_without_a_key_is_401(db: None) -> None:
    from django.test import Client

    assert_problem(Client().get("/api/pauses"), 401)
    assert_problem(Client().delete("/api/pauses/queue/x"), 401)


def test_the_schema_documents_the_pauses(operator_api: Caller) -> None:
    schema = operator_api.client.get("/api/schema/?format=json").json()
    ops = {(method, path) for path, item in schema["paths"].items() for method in item}
    assert {("get", "/api/pauses"), ("post", "/api/pauses"), ("delete", "/api/pauses/{kind}/{value}")} <= ops
    post = schema["paths"]["/api/pauses"]["post"]["responses"]
    assert {"200", "201", "400", "403"} <= set(post)
