"""Idempotency-Key on POST /api/tasks/batch: one key names the whole batch (Stripe-style).

The first answer is kept with the request's hash; a replay with the same body gets that answer
again (status and body), marked ``Idempotent-Replayed: true``, uncharged; another body is a 409;
concurrent first requests create one set; keys expire after the documented retention.
"""

from datetime import timedelta
from typing import Any

import pytest

from jobs import clock
from jobs.models import BatchKey, Task
from jobs.services import idempotency, maintenance
from tests.support.api import Caller, MakeApi, assert_problem
from tests.support.hammer import hammer
from tests.support.ratelimit import limited, noops, remaining

pytestmark = pytest.mark.django_db

SPECS = [{"type": "noop", "payload": {"n": 1}}, {"type": "noop", "priority": 5}]


def send(caller: Caller, specs: list[dict[str, Any]], key: str) -> Any:
    return caller.batch(specs, HTTP_IDEMPOTENCY_KEY=key)


def test_a_replayed_batch_answers_its_first_answer_and_creates_nothing(make_api: MakeApi) -> None:
    caller = limited(make_api, 10)
    first = send(caller, SPECS, "evb-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert first.json()["created"] == 2 and remaining(first) == 8
    for _ in range(3):
        again = send(caller, SPECS, "evb-1")
        assert (again.status_code, again.json()) == (201, first.json())
        assert again["Idempotent-Replayed"] == "true"
        assert remaining(again) == 8  # not charged; the window as it stands
    assert Task.objects.filter(tenant=caller.tenant).count() == 2
    # Without the key the same body is new work.
    assert caller.batch(SPECS).json()["created"] == 2


def test_the_same_key_with_another_body_is_409_and_writes_nothing(api: Caller) -> None:
    first = send(api, SPECS, "evb-2")
    assert first.status_code == 201
    for other in ([SPECS[0]], [*SPECS, {"type": "noop"}], [SPECS[1], SPECS[0]]):
        body = assert_problem(send(api, other, "evb-2"), 409)
        assert body["type"].endswith("/idempotency-mismatch")
        assert body["idempotency_key"] == "evb-2"
    assert Task.objects.count() == 2


def test_batch_keys_are_per_tenant_exact_and_apart_from_task_keys(api: Caller, other_api: Caller) -> None:
    a = send(api, SPECS, "Evb-3")
    b = send(other_api, SPECS, "Evb-3")
    assert (a.status_code, b.status_code) == (201, 201) and "Idempotent-Replayed" not in b
    assert set(a.json()["ids"]).isdisjoint(b.json()["ids"])
    # Case and trailing spaces count, as for a task's key (the column's collation on MariaDB).
    for key in ("evb-3", "Evb-3 "):
        response = send(api, SPECS, key)
        assert response.status_code == 201 and "Idempotent-Replayed" not in response, key
    # A single task's key of the same name is another namespace.
    single = api.post("/api/tasks", {"type": "noop"}, HTTP_IDEMPOTENCY_KEY="Evb-3")
    assert single.status_code == 201
    assert Task.objects.filter(tenant=api.tenant).count() == 2 * 3 + 1


def test_a_bad_key_header_is_400_naming_it(api: Caller) -> None:
    assert_problem(send(api, SPECS, ""), 400, "Idempotency-Key")
    assert_problem(send(api, SPECS, "k" * 256), 400, "Idempotency-Key")
    assert send(api, SPECS, "k" * 255).status_code == 201


def test_a_refused_batch_keeps_no_key(make_api: MakeApi) -> None:
    caller = limited(make_api, 3)
    assert_problem(send(caller, [{"type": "noop", "priority": 9}], "evb-4"), 400, "tasks[0].priority")
    assert send(caller, noops(4), "evb-4").status_code == 413  # over the whole window
    assert not BatchKey.objects.exists()
    # The key is still free: the corrected request is the first one.
    response = send(caller, noops(3), "evb-4")
    assert (response.status_code, response.json()["created"]) == (201, 3)
    assert BatchKey.objects.get().response == response.json()


def test_a_replay_returns_the_ids_even_after_their_tasks_changed(api: Caller) -> None:
    first = send(api, SPECS, "evb-5").json()
    Task.objects.filter(pk__in=first["ids"]).delete()  # pruned, say: the answer is what it was
    again = send(api, SPECS, "evb-5")
    assert (again.status_code, again.json()) == (201, first)


def test_keys_expire_after_their_retention_and_are_pruned(api: Caller) -> None:
    send(api, SPECS, "old")
    send(api, SPECS, "fresh")
    past = clock.now() - timedelta(seconds=idempotency.BATCH_KEY_RETENTION_SECONDS + 60)
    BatchKey.objects.filter(key="old").update(created_at=past)
    # Expired: the key is free again (a new request, not a replay), before any pruning.
    again = send(api, SPECS, "old")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    BatchKey.objects.filter(key="old").update(created_at=past)
    assert maintenance.prune_side_tables() >= 1
    assert list(BatchKey.objects.values_list("key", flat=True)) == ["fresh"]
    assert send(api, SPECS, "fresh")["Idempotent-Replayed"] == "true"


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_with_one_key_create_one_set(make_api: MakeApi, limiter_backend: str) -> None:
    caller = make_api("burst", rate_limit=100, rate_window=3600)
    results = hammer(caller.raw, "/api/tasks/batch", {"tasks": noops(5)}, rounds=1, threads=8,
                     headers={"Idempotency-Key": "race-1"})
    assert [status for status, _ in results] == [201] * 8
    answers = {tuple(r.json()["ids"]) for _, r in results}
    assert len(answers) == 1 and len(next(iter(answers))) == 5
    assert sorted(r.get("Idempotent-Replayed", "") for _, r in results) == [""] + ["true"] * 7
    assert Task.objects.filter(tenant=caller.tenant).count() == 5
    assert BatchKey.objects.count() == 1
    # The losers were refunded: only the winner's 5 are in the window.
    assert remaining(caller.submit()) == 100 - 5 - 1
