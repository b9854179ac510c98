"""What every transition records besides the row itself: its outbox events and rollups.

Called inside the transition's transaction, so events and rollups exist exactly when
the change committed. No transition writes the outbox or the rollups any other way.
"""

from collections.abc import Iterable
from typing import Any

from . import outbox, rollups


def record(
    changes: Iterable[dict[str, Any]],
    *,
    finished: Iterable[rollups.Finished] = (),
    unfinished: Iterable[rollups.Finished] = (),
    retried: Iterable[rollups.Retried] = (),
) -> None:
    """Write ``changes`` to the outbox; add ``finished`` to the rollups, take ``unfinished`` out, and count
    the ``retried`` runs as failed attempts."""
    rollups.record_all(finished, unfinished, retried)
    outbox.record(changes)
