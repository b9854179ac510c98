"""Concurrent submissions of one unique key, on MariaDB's row locks and unique index: exactly one task."""

import threading

import pytest
from django.db.models import Q

from jobs.models import Task
from jobs.services.enqueue import enqueue_many
from jobs.store import finish
from tenants.models import Tenant
from tests.support.api import MakeApi
from tests.support.builders import claim
from tests.support.hammer import hammer
from tests.support.threads import together

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]


def test_200_concurrent_submissions_of_one_key_create_exactly_one_task(make_api: MakeApi) -> None:
    caller = make_api("race")
    results = hammer(caller.raw, "/api/tasks", {"type": "noop", "unique_key": "one"}, rounds=20, threads=10)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 199 + [201], statuses
    ids = {r.json()["id"] for _, r in results}
    assert len(ids) == 1
    assert all(r.json()["duplicate"] is True for status, r in results if status == 200)
    assert list(Task.objects.filter(tenant=caller.tenant).values_list("pk", flat=True)) == list(ids)
    # Once it has completed, the key is free: the next round creates exactly one more.
    running = claim(Task.objects.get(pk=ids.pop()))
    assert finish.write([finish.succeeded(running, "ok")], fence=Q(worker="w1")) == 1
    again = hammer(caller.raw, "/api/tasks", {"type": "noop", "unique_key": "one"}, rounds=5, threads=10)
    assert sorted(status for status, _ in again) == [200] * 49 + [201]
    assert Task.objects.filter(tenant=caller.tenant).count() == 2
    assert Task.objects.filter(tenant=caller.tenant, unique_active="one").count() == 1


def test_concurrent_batches_sharing_keys_create_one_task_per_key(make_api: MakeApi) -> None:
    caller = make_api("race")

    def batch(thread: int, round: int) -> dict[str, object]:
        # Every batch names the same 20 keys, each twice (items i and i + 20), from an offset of its own.
        return {"tasks": [{"type": "noop", "unique_key": f"k{(i + thread * 7 + round * 3) % 20}"}
                          for i in range(40)]}

    results = hammer(caller.raw, "/api/tasks/batch", batch, rounds=3, threads=8)
    assert {status for status, _ in results} == {201}, [r.content[:300] for _, r in results]
    assert sum(r.json()["created"] for _, r in results) == 20
    key_of = dict(Task.objects.filter(tenant=caller.tenant).values_list("pk", "unique_active"))
    assert sorted(key_of.values()) == sorted(f"k{n}" for n in range(20))
    for _, response in results:
        body = response.json()
        keys = [key_of[pk] for pk in body["ids"]]  # each item answered by the holder of its own key
        assert len(set(keys[:20])) == 20 and keys[:20] == keys[20:]
        assert set(range(20, 40)) <= set(body["duplicate"])


@pytest.mark.parametrize("field", ["unique_key", "idempotency_key"])
def test_concurrent_batches_meeting_each_other_s_keys_in_opposite_orders_do_not_deadlock(
        tenant: Tenant, field: str) -> None:
    """Multi-row INSERTs that reach shared keys in opposite orders deadlock on InnoDB unless the
    keyed rows go in in one order (without it, this failed two runs in three), for either key."""
    created: list[int] = []
    threads, rounds = 4, 4
    barrier = threading.Barrier(threads)

    def run(n: int) -> None:
        for round in range(rounds):
            keys = [f"r{round}-{i:04d}" for i in range(1000)]
            order = keys[n * 250:] + keys[:n * 250]  # each thread from its own offset, every other one backwards
            if n % 2:
                order.reverse()
            barrier.wait(timeout=60)
            results = enqueue_many([{"type": "noop", field: key} for key in order], tenant=tenant)
            created.append(sum(result.created for result in results))

    together(threads, run)
    assert sum(created) == rounds * 1000
    assert Task.objects.filter(tenant=tenant).count() == rounds * 1000
