"""What one acquire decided, shared by both backends."""

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """The outcome of one :func:`tenants.ratelimit.acquire`."""

    allowed: bool
    limit: int  # the window's capacity
    remaining: int  # capacity left after this decision (a rejection charged nothing: what is left unused)
    reset: float  # seconds until the window has fully recovered capacity used so far (>= 0)
    retry_after: float  # when rejected: seconds until `cost` would fit; 0 when allowed
    token: str | None  # identifies the charge, for refund(); None when not charged
    degraded: bool = False  # True when Redis was unreachable and the fail-open/closed policy decided


def new_token(cost: int) -> str:
    """A unique charge id that carries its cost, so a refund knows what to give back."""
    return f"{cost}:{uuid.uuid4().hex}"
