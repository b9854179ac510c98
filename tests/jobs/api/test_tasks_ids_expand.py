"""``GET /api/tasks?ids=`` (batch status) and lean list rows (``expand=``)."""

import pytest

from jobs.lifecycle import Status
from tests.support.api import Caller, assert_problem
from tests.support.builders import add_task

pytestmark = pytest.mark.django_db


def test_ids_answers_in_the_order_given_within_the_tenant(api: Caller, other_api: Caller) -> None:
    a = [add_task(api.tenant, payload={"n": n}) for n in range(3)]
    done = add_task(api.tenant, status=Status.COMPLETED, result={"ok": True})
    theirs = add_task(other_api.tenant)
    asked = [done.pk, a[2].pk, theirs.pk, a[0].pk, 999_999, a[2].pk]
    body = api.get("/api/tasks", {"ids": ",".join(map(str, asked))}).json()
    assert [r["id"] for r in body["data"]] == [done.pk, a[2].pk, a[0].pk], "the ids' order, each once, own tenant only"
    assert body["missing"] == [theirs.pk, 999_999], "another tenant's id is missing, like an unknown one"
    assert (body["total"], body["total_exact"], body["page"], body["total_pages"]) == (3, True, 1, 1)
    assert body["data"][0]["status"] == Status.COMPLETED

    filtered = api.get("/api/tasks", {"ids": f"{done.pk},{a[1].pk}", "status": "pending"}).json()
    assert [r["id"] for r in filtered["data"]] == [a[1].pk] and filtered["missing"] == [done.pk]


@pytest.mark.parametrize("raw", ["", "1,,2", "x", "0", "1.5", ",".join(str(i) for i in range(1, 102))])
def test_bad_ids_are_400_naming_ids(api: Caller, raw: str) -> None:
    assert_problem(api.get("/api/tasks", {"ids": raw}), 400, "ids")


@pytest.mark.parametrize("param", ["page", "page_size", "cursor", "sort_by", "order"])
def test_ids_refuses_paging_parameters(api: Caller, param: str) -> None:
    assert_problem(api.get("/api/tasks", {"ids": "1", param: "1"}), 400, param)


def test_lists_are_lean_unless_expanded(api: Caller) -> None:
    task = add_task(api.tenant, status=Status.COMPLETED, payload={"big": "x" * 100}, result={"answer": 42})
    for params in ({}, {"cursor": ""}, {"ids": str(task.pk)}):
        row = api.get("/api/tasks", params).json()["data"][0]
        assert "payload" not in row and "result" not in row, params
        assert row["status"] == Status.COMPLETED
        both = api.get("/api/tasks", {**params, "expand": "payload,result"}).json()["data"][0]
        assert (both["payload"], both["result"]) == ({"big": "x" * 100}, {"answer": 42}), params
    one = api.get("/api/tasks", {"expand": "result"}).json()["data"][0]
    assert "payload" not in one and one["result"] == {"answer": 42}
    detail = api.get(f"/api/tasks/{task.pk}").json()
    assert detail["payload"] == {"big": "x" * 100} and detail["result"] == {"answer": 42}, "the detail is whole"


@pytest.mark.parametrize("raw", ["errors", "payload,secret", "PAYLOAD"])
def test_bad_expand_is_400_naming_expand(api: Caller, raw: str) -> None:
    assert_problem(api.get("/api/tasks", {"expand": raw}), 400, "expand")
