"""Rate limiting under concurrent API requests, on Redis and on the in-process fallback: never over the limit."""


import pytest

from jobs.models import Task
from tests.support.api import MakeApi
from tests.support.hammer import hammer
from tests.support.ratelimit import noops, remaining

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_parallel_batches_never_admit_more_than_the_limit(make_api: MakeApi, limiter_backend: str) -> None:
    caller = make_api("burst", rate_limit=100, rate_window=3600)
    results = hammer(caller.raw, "/api/tasks/batch", {"tasks": noops(7)}, rounds=3, threads=10)
    statuses = [status for status, _ in results]
    assert set(statuses) <= {201, 429}, statuses
    admitted = [r for status, r in results if status == 201]
    assert all(r.json()["created"] == 7 for r in admitted)
    assert all(int(r["Retry-After"]) >= 1 for status, r in results if status == 429)
    admitted_cost = 7 * len(admitted)
    assert Task.objects.filter(tenant=caller.tenant).count() == admitted_cost
    assert 100 - 6 <= admitted_cost <= 100


@pytest.mark.django_db(transaction=True)
def test_parallel_singles_are_admitted_exactly_up_to_the_limit(make_api: MakeApi, limiter_backend: str) -> None:
    caller = make_api("burst", rate_limit=40, rate_window=3600)
    results = hammer(caller.raw, "/api/tasks", {"type": "noop"}, rounds=6, threads=12)
    statuses = [status for status, _ in results]
    assert statuses.count(201) == 40 and statuses.count(429) == 72 - 40
    assert Task.objects.filter(tenant=caller.tenant).count() == 40
    assert sorted(remaining(r) for status, r in results if status == 201) == list(range(40))


@pytest.mark.django_db(transaction=True)
def test_parallel_submissions_of_one_idempotency_key_create_and_charge_once(make_api: MakeApi) -> None:
    caller = make_api("burst", rate_limit=50, rate_window=3600)
    results = hammer(caller.raw, "/api/tasks", {"type": "noop", "idempotency_key": "once"}, rounds=2, threads=8)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 15 + [201]
    # Every loser's answer is marked a replay, whether it found the key before inserting or raced for it.
    assert all(r["Idempotent-Replayed"] == "true" for status, r in results if status == 200)
    assert len({r.json()["id"] for _, r in results}) == 1
    assert Task.objects.filter(tenant=caller.tenant).count() == 1
    # Losers of the race were refunded: only the winner's charge is in the window.
    assert remaining(caller.submit()) == 50 - 2
