"""Fixtures of the audit log tests: API callers (a tenant key, an operator key), console users and an admin."""

from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tenants import keys
from tenants.models import Tenant
from tests.support.api import GENEROUS_LIMIT, Caller
from tests.support.console import OPERATOR_PERMS, VIEW_PERMS, client_for, make_user


@pytest.fixture(autouse=True)
def fresh_key_cache() -> Iterator[None]:
    """Cached key verifications are keyed by prefixes and ids the database reuses between tests."""
    keys.reset()
    yield
    keys.reset()


@pytest.fixture
def acme(db: None) -> Tenant:
    return Tenant.objects.create(name="Acme", slug="acme", rate_limit=GENEROUS_LIMIT)


@pytest.fixture
def api(acme: Tenant) -> Caller:
    """A tenant key of ``acme``."""
    return Caller(acme)


@pytest.fixture
def operator_api(db: None) -> Caller:
    """An operator key of its own tenant (``ops``)."""
    return Caller(Tenant.objects.create(name="Ops", slug="ops", rate_limit=GENEROUS_LIMIT), operator=True)


@pytest.fixture
def operator(db: None) -> Client:
    """A console user who may act (tasks, tenants, keys) and read the audit log."""
    return client_for(make_user("opal", perms=[*OPERATOR_PERMS, "jobs.view_auditentry"]))


@pytest.fixture
def viewer(db: None) -> Client:
    """A console user who may look at tasks and tenants, not at the audit log."""
    return client_for(make_user("vera", perms=VIEW_PERMS))


@pytest.fixture
def admin(db: None) -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client
