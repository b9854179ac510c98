"""Who is acting: set by each entry point (the console, the admin, the API, the CLI) for the
length of a request or a command, read by the audit log (``jobs.services.audit``).

A context variable, so it follows the request through threads' and tasks' own contexts and
never leaks from one request into the next. Outside any entry point the actor is the engine.
"""

import getpass
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Actor:
    #: ``user`` (console, admin), ``key`` (an API key), ``cli`` (user@host), ``engine``.
    kind: str
    #: The username, the key's prefix, user@host, or ``engine``.
    name: str
    #: ``console``, ``admin``, ``api``, ``cli`` or ``engine``.
    source: str
    #: The client's address (console, admin, API), the host (CLI).
    address: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Actor":
        return cls(**{k: str(data.get(k, "")) for k in ("kind", "name", "source", "address")}) if data else ENGINE


ENGINE = Actor("engine", "engine", "engine")

_current: ContextVar[Actor | None] = ContextVar("jobs_actor", default=None)


def current() -> Actor:
    return _current.get() or ENGINE


@contextmanager
def acting(actor: Actor) -> Iterator[Actor]:
    """Run the block as ``actor`` (nested blocks restore the outer actor on exit)."""
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)


def assume(who: Actor) -> None:
    """Act as ``who`` for the rest of the entry point (an API key verified mid-request); the
    enclosing ``acting()`` block's exit resets it, so it never reaches the next request."""
    _current.set(who)


def cli() -> Actor:
    """The person running a management command: ``user@host``."""
    host = socket.gethostname()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        user = "unknown"
    return Actor("cli", f"{user}@{host}", "cli", host)


def user(username: str, *, source: str, address: str | None) -> Actor:
    return Actor("user", username, source, address or "")


def key(prefix: str, *, address: str | None) -> Actor:
    return Actor("key", prefix, "api", address or "")
