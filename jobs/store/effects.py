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
    retried: Iterable[rollups.Retried] = (),
) -> None:
    """Write ``changes`` to the outbox; add ``finished`` to the rollups, take ``unfinished`` out, count
    the ``retried`` runs as failed attempts; insert the webhook deliveries the changes call for
    (``webhooks.deliveries``)."""
    rollups.record_all(finished, unfinished, retried)
    listed = list(changes)
    created = [outbox.change(t, Event.CREATED, t.status) for t in webhooks.deliveries(listed)]
    outbox.record(listed + created)
