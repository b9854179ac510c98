"""Stream slots: taken in every scope or none, leased, counted per process while Redis is down."""

from collections.abc import Iterator
from typing import Any

import pytest

from jobs.notify import redis as shared_redis
from jobs.streams import slots
from jobs.streams.slots import Scope
from tests.support.redis import DOWN_URL, use_redis
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.mariadb)])
def slot_backend(request: pytest.FixtureRequest, settings: Any, servers: dict[str, Any]) -> Iterator[str]:
    """The slots on this process's count (both passes) and on real Redis (MariaDB pass)."""
    use_redis(settings, servers["redis_url"] if request.param == "redis" else None)
    slots.reset()
    shared_redis.reset()
    yield str(request.param)
    slots.reset()
    shared_redis.reset()


def test_slots_are_taken_in_every_scope_or_none(slot_backend: str) -> None:
    key_a, key_b, tenant = Scope("key", 1, 2, 9), Scope("key", 2, 2, 9), Scope("tenant", 9, 3, 9)
    held = [slots.acquire((key_a, tenant), 30) for _ in range(2)]
    assert all(isinstance(lease, slots.Lease) and lease.shared == (slot_backend == "redis") for lease in held)
    full = slots.acquire((key_a, tenant), 30)
    assert isinstance(full, slots.Full) and full.scope == key_a and full.retry_after >= 1
    other = slots.acquire((key_b, tenant), 30)
    assert isinstance(other, slots.Lease), "another key of the tenant: its third stream"
    full = slots.acquire((key_b, tenant), 30)
    assert isinstance(full, slots.Full) and full.scope == tenant, "the tenant's fourth, refused before key b's cap"
    second_b = slots.acquire((key_b,), 30)
    assert isinstance(second_b, slots.Lease), "the refusal took no slot of key b (its cap is 2)"
    for lease in held:
        assert isinstance(lease, slots.Lease)
        lease.renew()
        lease.release()
        lease.release()  # once only
    assert isinstance(slots.acquire((key_a, tenant), 30), slots.Lease), "released slots come back"


def test_a_slot_never_released_lapses_unless_renewed(slot_backend: str) -> None:
    """A stream cancelled while its slot was being taken, or on an instance that died, holds it only for its lease."""
    scope = Scope("key", 3, 1, 9)
    renewed = slots.acquire((scope,), 2.0)
    assert isinstance(renewed, slots.Lease)

    def renew_and_try() -> bool:
        renewed.renew()
        return isinstance(slots.acquire((scope,), 30), slots.Lease)

    # Renewed every poll, it is never taken over (each try is refused)...
    for _ in range(5):
        assert not renew_and_try()
    # ...left alone, it lapses and the slot is free again.
    wait_for(lambda: isinstance(slots.acquire((scope,), 30), slots.Lease), timeout=10, what="the lease to lapse")


def test_slots_count_per_process_while_redis_is_down(settings: Any) -> None:
    """Redis gone: not every stream admitted (fail open) but each process's own cap (fail safe)."""
    use_redis(settings, DOWN_URL)
    shared_redis.reset()
    slots.reset()
    try:
        scope = Scope("key", 1, 1, 1)
        first = slots.acquire((scope,), 30)
        assert isinstance(first, slots.Lease) and not first.shared
        assert isinstance(slots.acquire((scope,), 30), slots.Full)
        first.release()
        assert isinstance(slots.acquire((scope,), 30), slots.Lease)
    finally:
        slots.reset()
        shared_redis.reset()
