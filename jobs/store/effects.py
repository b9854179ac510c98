"""What every transition records besides the row itself: its outbox events and rollups.

Called inside the transition's transaction, so events and rollups exist exactly when
the change committed. No transition writes the outbox or the rollups any other way.
"""

from collections.abc import Iterable
from typing import Any

from ..lifecycle import Event
from . import outbox, rollups, webhooks


def record(
    changes: Iterable[dict[str, Any]],
    *,
    finished: Iterable[rollups.Finished] = (),
    unfinished: Iterable[rollups.Finished] = (),
) -> None:
    """Write ``changes`` to the outbox; add ``finished`` to the rollups, take ``unfinished`` out; insert
    the webhook deliveries the changes call for (``webhooks.deliveries``)."""
    rollups.record(finished)
    rollups.record(unfinished, sign=-1)
    listed = list(changes)
    created = [outbox.change(t, Event.CREATED, t.status) for t in webhooks.deliveries(listed)]
    outbox.record(listed + created)
