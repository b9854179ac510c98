"""The SDK against the live server: a real ``manage.py serve`` (``start_daphne``) on this test's database,
reached directly or through a ``Relay`` that breaks connections; real worker supervisors (``workers``)."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from jobengine_client import Client

from tenants import keys
from tests.sdk.proxy import Relay
from tests.support.processes import DaphneServer


@dataclass
class Live:
    server: DaphneServer
    raw_key: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def live(tenant, start_daphne: Callable[..., DaphneServer]) -> Live:
    _, raw = keys.issue(tenant, name="sdk")
    return Live(start_daphne(), raw)


@pytest.fixture
def client(live: Live) -> Iterator[Client]:
    with Client(live.url, live.raw_key) as c:
        yield c


@pytest.fixture
def relay(live: Live) -> Iterator[Relay]:
    r = Relay(live.server.port)
    yield r
    r.close()
