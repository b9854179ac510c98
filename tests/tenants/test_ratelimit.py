"""The per-tenant rate limiter, on real Redis (MariaDB pass) and on the in-memory fallback (both passes)."""

import logging
import multiprocessing
import threading
import time
from typing import Any

import pytest

from jobs.notify import redis as shared_redis
from tenants.ratelimit import Decision, RateLimiterUnavailable, acquire, peek, refund
from tenants.ratelimit.memory import limiter as in_memory
from tenants.ratelimit.redis import keys_of
from tests.support.redis import DOWN_URL, use_redis

# test_precise_across_4_processes spawns processes that import this module before Django's apps are ready:
# it must not import the models, even indirectly (tests.support.api and tests.support.ratelimit do).


def test_admits_up_to_the_limit_and_rejects_the_next(limiter_backend, key):
    for i in range(5):
        d = acquire(key, 1, limit=5, window=60)
        assert d.allowed and d.remaining == 4 - i and d.token and d.limit == 5 and not d.degraded
        assert d.retry_after == 0
    d = acquire(key, 1, limit=5, window=60)
    assert not d.allowed and d.remaining == 0 and d.token is None and not d.degraded


def test_costs_weigh_and_a_rejected_request_is_not_charged(limiter_backend, key):
    d = acquire(key, 40, limit=100, window=60)
    assert d.allowed and d.remaining == 60
    d = acquire(key, 61, limit=100, window=60)
    assert not d.allowed and d.token is None
    d = acquire(key, 60, limit=100, window=60)
    assert d.allowed and d.remaining == 0
    assert not acquire(key, 1, limit=100, window=60).allowed


def test_a_cost_above_the_limit_never_fits(limiter_backend, key):
    d = acquire(key, 101, limit=100, window=30)
    assert not d.allowed and d.retry_after == 30 and d.token is None
    # Nothing was charged: the whole capacity is still there.
    assert acquire(key, 100, limit=100, window=30).allowed


def test_cost_zero_is_allowed_without_a_charge(limiter_backend, key):
    acquire(key, 30, limit=100, window=60)
    d = acquire(key, 0, limit=100, window=60)
    assert d.allowed and d.token is None and d.remaining == 70


def test_a_rejection_reports_what_is_left_unused(limiter_backend, key):
    acquire(key, 7, limit=10, window=60)
    d = acquire(key, 4, limit=10, window=60)
    # Nothing was taken: 3 are left, and a request of 3 still fits.
    assert not d.allowed and d.remaining == 3 and 0 < d.retry_after <= d.reset <= 60
    assert acquire(key, 3, limit=10, window=60).remaining == 0


def test_peek_reports_the_window_and_charges_nothing(limiter_backend, key):
    empty = peek(key, limit=10, window=60)
    assert empty is not None and (empty.allowed, empty.remaining, empty.reset, empty.token) == (True, 10, 0.0, None)
    acquire(key, 4, limit=10, window=60)
    for _ in range(5):
        d = peek(key, limit=10, window=60)
        assert d is not None and d.remaining == 6 and 0 < d.reset <= 60 and d.token is None
    assert acquire(key, 6, limit=10, window=60).allowed
    full = peek(key, limit=10, window=60)
    assert full is not None and full.remaining == 0


def test_peek_without_redis_tells_nothing_whatever_the_policy(settings, key):
    use_redis(settings, DOWN_URL)
    assert peek(key, limit=10, window=60) is None
    settings.JOBS = {**settings.JOBS, "RATE_LIMIT_FAIL_OPEN": False}
    assert peek(key, limit=10, window=60) is None  # no RateLimiterUnavailable: a report is not an admission


def test_reset_and_retry_after_are_plausible(limiter_backend, key):
    window = 10.0
    d = acquire(key, 50, limit=100, window=window)
    assert 0 < d.reset <= window
    time.sleep(0.2)
    acquire(key, 50, limit=100, window=window)
    d = acquire(key, 10, limit=100, window=window)
    assert not d.allowed
    # The first charge (older by 0.2 s) frees room for 10, so the wait is a bit under the window.
    assert 0 < d.retry_after <= window
    assert d.retry_after < window - 0.1
    assert 0 < d.reset <= window
    assert d.reset >= d.retry_after


def test_the_window_slides(limiter_backend, key):
    assert acquire(key, 10, limit=10, window=1.0).allowed
    d = acquire(key, 1, limit=10, window=1.0)
    assert not d.allowed and 0 < d.retry_after <= 1.0
    time.sleep(d.retry_after + 0.1)
    d = acquire(key, 10, limit=10, window=1.0)
    assert d.allowed and d.remaining == 0


def test_the_window_slides_charge_by_charge(limiter_backend, key):
    assert acquire(key, 6, limit=10, window=2.0).allowed
    time.sleep(1.0)
    assert acquire(key, 4, limit=10, window=2.0).allowed
    time.sleep(1.1)  # the first charge expired; the second has ~0.9 s left
    d = acquire(key, 6, limit=10, window=2.0)
    assert d.allowed and d.remaining == 0
    assert not acquire(key, 1, limit=10, window=2.0).allowed


def test_refund_restores_capacity(limiter_backend, key):
    d = acquire(key, 70, limit=100, window=60)
    assert d.token
    assert not acquire(key, 50, limit=100, window=60).allowed
    refund(key, d.token)
    d2 = acquire(key, 50, limit=100, window=60)
    assert d2.allowed and d2.remaining == 50
    # A second refund of the same token gives nothing back.
    refund(key, d.token)
    assert acquire(key, 50, limit=100, window=60).allowed
    assert not acquire(key, 1, limit=100, window=60).allowed


def test_refund_of_an_unknown_key_or_token_is_harmless(limiter_backend, key):
    refund(key, "5:nonexistent")
    acquire(key, 5, limit=10, window=60)
    refund(key, "5:nonexistent")
    assert acquire(key, 5, limit=10, window=60).allowed
    assert not acquire(key, 1, limit=10, window=60).allowed


def test_keys_are_independent(limiter_backend, key):
    assert acquire(key + "-a", 10, limit=10, window=60).allowed
    assert acquire(key + "-b", 10, limit=10, window=60).allowed
    assert not acquire(key + "-a", 1, limit=10, window=60).allowed


def test_precise_under_16_threads(limiter_backend, key):
    barrier = threading.Barrier(16)
    admitted: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        barrier.wait()
        mine = 0
        for _ in range(25):
            if acquire(key, 7, limit=100, window=120).allowed:
                mine += 7
        with lock:
            admitted.append(mine)

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(admitted) == 16
    assert 100 - 6 <= sum(admitted) <= 100


def _process_hammer(redis_url: str, key: str, barrier: Any, results: Any) -> None:
    """In a spawned process: acquire cost 7 repeatedly and report the admitted total."""
    from django.conf import settings

    use_redis(settings, redis_url)
    barrier.wait(timeout=60)
    admitted = 0
    for _ in range(40):
        if acquire(key, 7, limit=100, window=120).allowed:
            admitted += 7
    results.put(admitted)


@pytest.mark.mariadb
def test_precise_across_4_processes(servers, key):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    results = ctx.Queue()
    procs = [ctx.Process(target=_process_hammer, args=(servers["redis_url"], key, barrier, results)) for _ in range(4)]
    for p in procs:
        p.start()
    totals = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert 100 - 6 <= sum(totals) <= 100


@pytest.mark.mariadb
def test_redis_keys_expire_when_idle(servers, settings, key):
    import redis

    use_redis(settings, servers["redis_url"])
    d = acquire(key, 3, limit=10, window=2.0)
    assert d.token
    client = redis.Redis.from_url(servers["redis_url"])
    log_key, total_key = keys_of(key)
    assert 0 < client.pttl(log_key) <= 2000 and 0 < client.pttl(total_key) <= 2000
    assert client.get(total_key) == b"3"
    assert client.zrange(log_key, 0, -1) == [d.token.encode()]
    refund(key, d.token)
    assert not client.exists(log_key, total_key)
    acquire(key, 3, limit=10, window=0.3)
    time.sleep(0.5)
    assert not client.exists(log_key, total_key)


@pytest.mark.mariadb
def test_redis_rebuilds_a_lost_total(servers, settings, key):
    import redis

    use_redis(settings, servers["redis_url"])
    acquire(key, 4, limit=10, window=60)
    acquire(key, 5, limit=10, window=60)
    client = redis.Redis.from_url(servers["redis_url"])
    client.delete(keys_of(key)[1])  # as if evicted under memory pressure
    d = acquire(key, 1, limit=10, window=60)
    assert d.allowed and d.remaining == 0
    assert not acquire(key, 1, limit=10, window=60).allowed


def test_fallback_state_is_forgotten_when_it_empties(settings, key):
    use_redis(settings, None)
    d = acquire(key, 1, limit=10, window=60)
    assert d.token and key in in_memory.windows
    refund(key, d.token)
    assert key not in in_memory.windows


@pytest.mark.parametrize(("cost", "limit", "window"), [(-1, 10, 1.0), (1, -1, 1.0), (1, 10, 0.0)])
def test_invalid_arguments_are_refused(settings, cost, limit, window):
    use_redis(settings, None)
    with pytest.raises(ValueError):
        acquire("k", cost, limit=limit, window=window)


# --- Redis unreachable ------------------------------------------------------------------


def test_redis_down_fails_open_quickly(settings, key, caplog):
    use_redis(settings, DOWN_URL)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="tenants.ratelimit"):
        decisions = [acquire(key, 7, limit=100, window=60) for _ in range(50)]
    assert time.monotonic() - started < 2
    assert all(isinstance(d, Decision) and d.allowed and d.degraded and d.token is None for d in decisions)
    # One warning, not one per request.
    assert len([r for r in caplog.records if r.name == "tenants.ratelimit"]) == 1
    refund(key, "7:whatever")  # swallowed, quickly


def test_redis_down_still_rejects_what_can_never_fit(settings, key):
    use_redis(settings, DOWN_URL)
    d = acquire(key, 101, limit=100, window=60)
    assert not d.allowed and d.degraded and d.retry_after == 60
    assert (d.remaining, d.reset) == (100, 0.0)  # nothing known was charged: reported untouched, consistently


def test_redis_down_fails_closed_when_configured(settings, key):
    use_redis(settings, DOWN_URL)
    settings.JOBS = {**settings.JOBS, "RATE_LIMIT_FAIL_OPEN": False}
    started = time.monotonic()
    for _ in range(3):  # the first trips the breaker; the others are refused by it
        with pytest.raises(RateLimiterUnavailable):
            acquire(key, 1, limit=100, window=60)
    assert time.monotonic() - started < 2


def test_a_hung_redis_costs_one_short_timeout_then_the_breaker_answers(settings, key, silent_server):
    use_redis(settings, silent_server)
    started = time.monotonic()
    first = acquire(key, 1, limit=100, window=60)
    assert first.allowed and first.degraded
    assert time.monotonic() - started < 3
    started = time.monotonic()
    rest = [acquire(key, 1, limit=100, window=60) for _ in range(20)]
    assert all(d.allowed and d.degraded for d in rest)
    assert time.monotonic() - started < 1  # the breaker is open: Redis is not tried again


@pytest.mark.mariadb
def test_the_breaker_closes_when_redis_is_back(servers, settings, key, monkeypatch):
    monkeypatch.setattr(shared_redis, "BREAKER_SECONDS", 0.2)
    use_redis(settings, servers["redis_url"])
    shared_redis.breaker.failed()  # as if the last call had failed
    assert acquire(key, 1, limit=10, window=60).degraded
    time.sleep(0.3)
    d = acquire(key, 1, limit=10, window=60)
    assert d.allowed and not d.degraded and d.remaining == 9
