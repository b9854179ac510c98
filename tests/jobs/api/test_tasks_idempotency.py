"""Idempotency keys on POST /api/tasks and the batch: replays, header or body, exact matching."""

import pytest

from jobs.models import Task
from tests.support.api import Caller, MakeApi, assert_problem

pytestmark = pytest.mark.django_db


def test_an_idempotency_key_in_the_body_replays_the_original_with_200(api: Caller) -> None:
    first = api.submit(payload={"n": 1}, idempotency_key="order-1")
    assert first.status_code == 201
    again = api.submit(payload={"n": 1}, idempotency_key="order-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    # Another body under the same key is not a replay (tests/security/test_submissions.py).
    assert api.submit(payload={"n": 2}, priority=5, idempotency_key="order-1").status_code == 409
    assert Task.objects.count() == 1


def test_the_idempotency_key_header_works_too(api: Caller) -> None:
    first = api.post("/api/tasks", {"type": "noop"}, HTTP_IDEMPOTENCY_KEY="hdr-1")
    assert first.status_code == 201
    assert first.json()["idempotency_key"] == "hdr-1"
    assert api.post("/api/tasks", {"type": "noop"}, HTTP_IDEMPOTENCY_KEY="hdr-1").json()["id"] == first.json()["id"]
    # The same key in the body or in both places names the same task.
    replay = api.submit(idempotency_key="hdr-1")
    assert (replay.status_code, replay.json()["id"]) == (200, first.json()["id"])
    both = api.post("/api/tasks", {"type": "noop", "idempotency_key": "hdr-1"}, HTTP_IDEMPOTENCY_KEY="hdr-1")
    assert (both.status_code, both.json()["id"]) == (200, first.json()["id"])
    assert Task.objects.count() == 1


def test_a_header_and_a_body_key_that_differ_are_400(api: Caller) -> None:
    response = api.post("/api/tasks", {"type": "noop", "idempotency_key": "a"}, HTTP_IDEMPOTENCY_KEY="b")
    assert_problem(response, 400, "idempotency_key")
    assert_problem(api.post("/api/tasks", {"type": "noop"}, HTTP_IDEMPOTENCY_KEY=""), 400, "idempotency_key")
    assert not Task.objects.exists()


def test_idempotency_keys_are_case_sensitive(api: Caller) -> None:
    a = api.submit(idempotency_key="Order-A")
    b = api.submit(idempotency_key="order-a")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


def test_idempotency_keys_differing_only_in_trailing_spaces_are_distinct(api: Caller) -> None:
    a = api.submit(idempotency_key="order-9")
    b = api.submit(idempotency_key="order-9 ")
    assert (a.status_code, b.status_code) == (201, 201)
    assert b.json()["idempotency_key"] == "order-9 "
    batch = api.batch([{"type": "noop", "idempotency_key": "x"}, {"type": "noop", "idempotency_key": "x "}])
    assert batch.status_code == 201, batch.content
    assert batch.json()["created"] == 2


def test_replays_say_so_and_new_tasks_and_duplicates_do_not(api: Caller) -> None:
    first = api.submit(idempotency_key="seen-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    replay = api.post("/api/tasks", {"type": "noop"}, HTTP_IDEMPOTENCY_KEY="seen-1")
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (200, "true")
    # A live task holding a unique key is another request for the same work, not a replay of this one.
    held = api.submit(unique_key="u-1")
    duplicate = api.submit(unique_key="u-1")
    assert (held.status_code, duplicate.status_code) == (201, 200)
    assert duplicate.json()["duplicate"] is True and "Idempotent-Replayed" not in duplicate
    # A batch's per-item replays are listed in its body; the header is for a replay of the batch's own key.
    batch = api.batch([{"type": "noop", "idempotency_key": "seen-1"}])
    assert batch.json()["replayed"] == [0] and "Idempotent-Replayed" not in batch


def test_a_replay_found_only_at_insert_is_marked_and_refunded(make_api: MakeApi,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.api.views import tasks as views

    caller = make_api("racy", rate_limit=5)
    first = caller.submit(idempotency_key="late")
    # As when a concurrent request inserted the key between this request's look-up and its insert.
    monkeypatch.setattr(views, "find_replay", lambda tenant, key: None)
    replay = caller.submit(idempotency_key="late")
    assert (replay.status_code, replay.json()["id"], replay["Idempotent-Replayed"]) == (200, first.json()["id"], "true")
    # Its charge was given back, and the headers say so (not the charge's stale count).
    assert replay["RateLimit-Remaining"] == "4"
    assert Task.objects.count() == 1
