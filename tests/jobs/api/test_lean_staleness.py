"""What a request takes from the cached key verification (``tenants.keys``): the tenant's state, rate
limit, queues, backlog caps and type grants. A change made in this process applies to the next
request; one made elsewhere within ``API_KEY_CACHE_SECONDS``, the documented bound."""

import time
from typing import Any

import pytest
from django.utils import timezone

from jobs.context import TaskContext
from jobs.models import TypeGrant
from jobs.registry import task
from jobs.services import admission, grants
from tenants import changes, keys
from tenants.models import ApiKey, Tenant
from tests.support.api import Caller, assert_problem

pytestmark = pytest.mark.django_db


def _noop(payload: dict[str, Any], ctx: TaskContext) -> None:
    return None


task("stale_listed", access="listed")(_noop)


@pytest.fixture(autouse=True)
def fresh_backlogs() -> Any:
    """Admission keeps each tenant's backlog per process, keyed by ids the database reuses."""
    admission.reset()
    yield
    admission.reset()


def stored(caller: Caller) -> Tenant:
    return Tenant.objects.get(pk=caller.tenant.pk)


# =========================================================================== changes made here: at once


def test_a_grant_or_revoke_here_applies_to_the_next_request(api: Caller) -> None:
    assert_problem(api.submit("stale_listed"), 400, "type")  # the verification now keeps "no grants"
    grants.grant(api.tenant, "stale_listed")
    assert api.submit("stale_listed").status_code == 201
    grants.revoke(api.tenant, "stale_listed")
    assert_problem(api.submit("stale_listed"), 400, "type")


def test_a_deactivation_here_applies_to_the_next_request(api: Caller) -> None:
    assert api.submit().status_code == 201  # cached
    changes.update(stored(api), {"active": False})
    assert_problem(api.submit(), 403)
    assert_problem(api.get("/api/tasks"), 403)


def test_backlog_caps_set_here_apply_to_the_next_request(api: Caller) -> None:
    assert api.submit().status_code == 201
    changes.update(stored(api), {"max_pending": 1})
    body = assert_problem(api.submit(), 429)
    assert (body["cap"], body["limit"]) == ("max_pending", 1)
    changes.update(stored(api), {"max_pending": None})
    assert api.submit().status_code == 201


def test_queues_taken_away_here_are_refused_on_the_next_request(api: Caller) -> None:
    changes.update(stored(api), {"allowed_queues": ["acme", "reports"]})
    assert api.submit(queue="reports").status_code == 201
    changes.update(stored(api), {"allowed_queues": ["acme"]})
    assert_problem(api.submit(queue="reports"), 400, "queue")


def test_a_rate_limit_lowered_here_applies_to_the_next_request(api: Caller) -> None:
    assert api.submit().status_code == 201
    changes.update(stored(api), {"rate_limit": 1})
    assert_problem(api.submit(), 429)


# =========================================================================== changes made elsewhere: the bound


def _changed_elsewhere(caller: Caller) -> None:
    """What other processes might do meanwhile, by the rows (this process's caches are not told)."""
    TypeGrant.objects.create(tenant=caller.tenant, type="stale_listed")
    Tenant.objects.filter(pk=caller.tenant.pk).update(max_pending=0)


def test_changes_made_elsewhere_are_trusted_until_the_verification_lapses(api: Caller) -> None:
    assert_problem(api.submit("stale_listed"), 400, "type")
    _changed_elsewhere(api)
    # Within API_KEY_CACHE_SECONDS (10 s here) this process answers from the verification…
    assert_problem(api.submit("stale_listed"), 400, "type")
    assert api.submit().status_code == 201
    keys.forget()  # …then verifies again, and reads the grants and caps afresh
    body = assert_problem(api.submit("stale_listed"), 429)
    assert body["cap"] == "max_pending"
    Tenant.objects.filter(pk=api.tenant.pk).update(max_pending=None)
    keys.forget()
    assert api.submit("stale_listed").status_code == 201


def test_everything_kept_with_a_verification_lapses_with_it(api: Caller, other_api: Caller, settings: Any) -> None:
    """The true bound, not a simulated one: a short API_KEY_CACHE_SECONDS, and a wait past it."""
    settings.JOBS = {**settings.JOBS, "API_KEY_CACHE_SECONDS": 0.2}
    revoked = other_api
    assert_problem(api.submit("stale_listed"), 400, "type")
    assert revoked.submit().status_code == 201
    _changed_elsewhere(api)
    ApiKey.objects.filter(pk=revoked.key.pk).update(revoked_at=timezone.now())
    time.sleep(0.3)
    assert assert_problem(api.submit("stale_listed"), 429)["cap"] == "max_pending"
    assert_problem(revoked.submit(), 401)
    Tenant.objects.filter(pk=api.tenant.pk).update(active=False)
    time.sleep(0.3)
    assert_problem(api.submit(), 403)
