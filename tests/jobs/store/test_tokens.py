"""Resource admission (jobs.store.tokens): the sliding log, ETAs, scopes, busy buckets, parking."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from jobs import clock
from jobs.lifecycle import Event as EventName
from jobs.lifecycle import Status
from jobs.models import Event, Resource, ResourceBucket
from jobs.services import resources
from jobs.store import tokens
from jobs.store.tokens import GUARD_SECONDS, Grant
from tenants.models import Tenant
from tests.support.builders import make_task

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
WINDOW = 1 + GUARD_SECONDS  # windows of 1 s and more: the whole guard


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def take(wants: dict[tuple[str, int], int], now: datetime) -> dict[tuple[str, int], Grant]:
    with transaction.atomic():
        return tokens.take(wants, now)


def log(name: str, scope: int = 0) -> list[float]:
    return ResourceBucket.objects.get(resource__name=name, scope=scope).starts


@pytest.mark.django_db
def test_grants_within_the_rate_and_etas_for_the_rest_in_order() -> None:
    resources.define("api", rate=5, per_seconds=1)
    assert take({("api", 1): 3}, at(0)) == {("api", 1): Grant(3, [])}
    grant = take({("api", 1): 4}, at(0.1))[("api", 1)]
    assert grant.granted == 2 and not grant.busy
    # The next two are due when the two starts at 0 leave the (guarded) window.
    assert grant.etas == [at(WINDOW), at(WINDOW)]
    assert len(log("api")) == 5


@pytest.mark.django_db
def test_etas_chain_into_later_windows() -> None:
    resources.define("api", rate=5, per_seconds=1)
    grant = take({("api", 1): 12}, at(0))[("api", 1)]
    assert grant.granted == 5
    # 5 free at 1.05 (the first window's starts leave), then those 5 ETAs hold the next window.
    assert grant.etas == [at(WINDOW)] * 5 + [at(2 * WINDOW)] * 2
    assert grant.etas == sorted(grant.etas)


@pytest.mark.django_db
def test_the_window_slides() -> None:
    resources.define("api", rate=5, per_seconds=1)
    take({("api", 1): 2}, at(0))
    take({("api", 1): 3}, at(0.5))
    assert take({("api", 1): 5}, at(WINDOW - 0.01))[("api", 1)].granted == 0
    # The two starts at 0 have left; the three at 0.5 are still inside.
    assert take({("api", 1): 5}, at(WINDOW + 0.01))[("api", 1)].granted == 2
    assert take({("api", 1): 5}, at(0.5 + WINDOW + 0.01))[("api", 1)].granted == 3


@pytest.mark.django_db
def test_an_eta_is_honoured_when_it_comes() -> None:
    resources.define("api", rate=3, per_seconds=0.25)
    first = take({("api", 1): 5}, at(0.0123))[("api", 1)]
    for eta in first.etas:
        assert take({("api", 1): 1}, eta)[("api", 1)].granted == 1


@pytest.mark.django_db
def test_a_per_tenant_resource_has_one_window_per_tenant() -> None:
    resources.define("mail", rate=2, per_seconds=1, per_tenant=True)
    got = take({("mail", 1): 3, ("mail", 2): 3}, at(0))
    assert (got[("mail", 1)].granted, got[("mail", 2)].granted) == (2, 2)
    assert len(got[("mail", 1)].etas) == 1
    assert set(ResourceBucket.objects.values_list("scope", flat=True)) == {1, 2}


@pytest.mark.django_db
def test_a_global_resource_shares_one_window_granted_in_the_order_given() -> None:
    resources.define("gpu", rate=5, per_seconds=1)
    got = take({("gpu", 7): 4, ("gpu", 3): 4}, at(0))
    assert (got[("gpu", 7)].granted, got[("gpu", 3)].granted) == (4, 1)
    # The second key's ETAs continue the first key's chain (none of its own ahead of them).
    assert got[("gpu", 3)].etas == [at(WINDOW)] * 3
    assert list(ResourceBucket.objects.values_list("scope", flat=True)) == [0]


@pytest.mark.django_db
def test_an_undefined_resource_does_not_limit_and_costs_one_query() -> None:
    with CaptureQueriesContext(connection) as ctx:
        got = take({("nowhere", 1): 50, ("nowhere", 2): 0}, at(0))
    assert got == {("nowhere", 1): Grant(50, []), ("nowhere", 2): Grant(0, [])}
    assert not ResourceBucket.objects.exists()
    assert len([q for q in ctx.captured_queries if "resource" in q["sql"].lower()]) == 1


@pytest.mark.django_db
def test_the_log_stays_bounded_by_the_rate() -> None:
    resources.define("api", rate=4, per_seconds=0.1)  # a guard of 10 ms
    for i in range(100):
        take({("api", 1): 3}, at(i * 0.03))
        assert len(log("api")) <= 4
    # A lowered rate trims the log to the newest entries at the next take, and is exact: only
    # those can decide whether one more fits.
    resources.define("api", rate=4, per_seconds=1)
    for i in range(4):
        take({("api", 1): 1}, at(10 + i * 0.1))
    resources.define("api", rate=2, per_seconds=1)
    assert take({("api", 1): 1}, at(10.4)) == {("api", 1): Grant(0, [at(10.2 + WINDOW)])}
    assert log("api") == [at(10.2).timestamp(), at(10.3).timestamp()]


@pytest.mark.django_db
def test_a_bucket_is_created_on_first_need(tenant: Tenant) -> None:
    resources.define("mail", rate=2, per_seconds=1, per_tenant=True)
    assert not ResourceBucket.objects.exists()
    assert take({("mail", tenant.pk): 1}, at(0))[("mail", tenant.pk)].granted == 1
    assert log("mail", tenant.pk) == [at(0).timestamp()]


@pytest.mark.django_db
def test_state_reads_available_starts_and_the_next_token() -> None:
    resources.define("api", rate=3, per_seconds=1)
    assert tokens.state("api", 0, at(0)) == (3, None)
    take({("api", 9): 2}, at(0))
    assert tokens.state("api", 0, at(0.2)) == (1, None)
    take({("api", 9): 1}, at(0.5))
    assert tokens.state("api", 0, at(0.6)) == (0, at(WINDOW))
    assert tokens.state("nowhere", 0, at(0)) == (tokens.MAX_RATE, None)


@pytest.mark.django_db
def test_throttle_parks_pending_tasks_until_their_eta(tenant: Tenant) -> None:
    a, b = (make_task(tenant, resource="api") for _ in range(2))
    gone = make_task(tenant, resource="api", status=Status.CANCELLED)
    eta_a, eta_b = clock.now() + timedelta(seconds=1), clock.now() + timedelta(seconds=2)
    Event.objects.all().delete()
    with transaction.atomic():
        parked = tokens.throttle([(a, eta_a), (b, eta_b), (gone, eta_a)])
    assert sorted(t.pk for t in parked) == [a.pk, b.pk]
    for task, eta in ((a, eta_a), (b, eta_b)):
        task.refresh_from_db()
        assert (task.status, task.blocked_on, task.attempts) == (Status.SCHEDULED, "resource", 0)
        assert abs((task.run_at - eta).total_seconds()) < 0.001
    gone.refresh_from_db()
    assert gone.status == Status.CANCELLED and gone.blocked_on is None
    changes = [c for e in Event.objects.all() for c in e.changes]
    assert sorted(c["task"] for c in changes if c["event"] == EventName.THROTTLED) == [a.pk, b.pk]
    assert all(c["status"] == Status.SCHEDULED and c["resource"] == "api" for c in changes)
    assert tokens.throttle([]) == []


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_a_bucket_another_claim_holds_is_busy_and_not_waited_for() -> None:
    resources.define("api", rate=5, per_seconds=1)
    resources.define("mail", rate=5, per_seconds=1, per_tenant=True)
    take({("mail", 2): 1}, at(0))  # its bucket exists: the holder below locks it too
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        try:
            with transaction.atomic():
                list(ResourceBucket.objects.select_for_update().filter(scope__in=[0, 2]))
                held.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        got = take({("api", 1): 3, ("mail", 2): 1, ("mail", 3): 2}, at(0.1))
        assert time.monotonic() - started < 1, "a locked bucket is skipped, never waited for"
    finally:
        release.set()
        thread.join(30)
    assert got[("api", 1)] == Grant(0, [], busy=True)
    assert got[("mail", 2)] == Grant(0, [], busy=True)
    assert got[("mail", 3)].granted == 2  # a new bucket, created and admitted in the same claim
    assert log("api") == []


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_concurrent_takes_on_separate_connections_never_exceed_the_rate(tenant: Tenant) -> None:
    """Eight claimers on their own connections, a per-tenant bucket none of them has yet (the
    first ones race to insert it) and a global one: within any window, at most ``rate`` admitted."""
    rate, per = 5, 0.3
    resources.define("mail", rate=rate, per_seconds=per, per_tenant=True)
    resources.define("gpu", rate=rate, per_seconds=per)
    stop = threading.Event()
    errors: list[BaseException] = []
    admitted: dict[str, list[float]] = {"mail": [], "gpu": []}
    lock = threading.Lock()

    def claimer() -> None:
        try:
            while not stop.is_set():
                with transaction.atomic():
                    now = clock.now()
                    got = tokens.take({("mail", tenant.pk): 2, ("gpu", tenant.pk): 1}, now)
                with lock:
                    for name in admitted:
                        admitted[name] += [now.timestamp()] * got[(name, tenant.pk)].granted
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=claimer) for _ in range(8)]
    for t in pool:
        t.start()
    time.sleep(2)
    stop.set()
    for t in pool:
        t.join(30)
    assert not errors, errors
    assert ResourceBucket.objects.filter(resource__name="mail").count() == 1
    for name, times in admitted.items():
        times.sort()
        assert len(times) >= 2 / tokens.window(Resource(per_seconds=per)) * rate * 0.8, (name, len(times))
        for i in range(len(times) - rate):
            assert times[i + rate] - times[i] >= per, (name, times[i:i + rate + 1])


@pytest.mark.django_db
def test_resource_definitions_are_checked() -> None:
    from jobs.exceptions import InvalidResource

    for name, rate, per, field in [("bad name", 1, 1, "name"), ("x" * 101, 1, 1, "name"), ("ok", 0, 1, "rate"),
                                   ("ok", tokens.MAX_RATE + 1, 1, "rate"), ("ok", 1.5, 1, "rate"),
                                   ("ok", 1, 0, "per"), ("ok", 1, float("inf"), "per")]:
        with pytest.raises(InvalidResource) as info:
            resources.define(name, rate=rate, per_seconds=per)  # type: ignore[arg-type]
        assert info.value.field == field
    assert not Resource.objects.exists()
    resources.define("a.b:c-d_1", rate=10_000, per_seconds=0.001)
    # Switching the scope drops the buckets (their scopes meant the other thing).
    take({("a.b:c-d_1", 4): 1}, at(0))
    resources.define("a.b:c-d_1", rate=3, per_seconds=2, per_tenant=True)
    assert not ResourceBucket.objects.exists()


@pytest.mark.django_db
def test_a_claim_whose_clock_reading_is_older_than_the_log_still_counts_it() -> None:
    resources.define("api", rate=2, per_seconds=1)
    take({("api", 1): 1}, at(0.5))
    # Read its clock before the first claim admitted, took the lock after it.
    assert take({("api", 2): 2}, at(0.4))[("api", 2)] == Grant(1, [at(0.4 + WINDOW)])
    assert log("api") == [at(0.4).timestamp(), at(0.5).timestamp()]
