"""Fixtures and helpers of the console tests.

``anon`` / ``viewer`` / ``operator`` are Django test clients: nobody, a staff user with view
permissions only, and a staff user who may also act (change tasks and tenants, add and
change API keys). Tasks are written directly (no registry, no wake-ups); ``finish`` also
records the rollup events a worker would, so analytics and counters see them.
"""

import pytest
from django.test import Client

from tests.support.console import OPERATOR_PERMS, VIEW_PERMS, client_for, make_user


@pytest.fixture
def anon(db: None) -> Client:
    return Client()


@pytest.fixture
def viewer(db: None) -> Client:
    return client_for(make_user("viewer", perms=VIEW_PERMS))


@pytest.fixture
def operator(db: None) -> Client:
    return client_for(make_user("operator", perms=OPERATOR_PERMS))
