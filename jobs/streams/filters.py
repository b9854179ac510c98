"""What one API stream sends of each outbox row: the changes its filters match (``?types=`` …).

A row is one tenant's changes of one batch; a stream with filters sends the changes that match
(re-serialised for it alone), or nothing for a row none of whose changes does. The row still
moves the stream's watermark (the next message's or heartbeat's ``id:``), so a reconnect never
replays what was filtered out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .reads import EventRow


@dataclass(frozen=True, slots=True)
class ChangeFilter:
    """Each set given must hold the change's field (task ``type``, ``status`` after it, ``event``, ``task`` id)."""

    types: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    events: frozenset[str] | None = None
    task_ids: frozenset[int] | None = None

    @property
    def active(self) -> bool:
        return any(f is not None for f in (self.types, self.statuses, self.events, self.task_ids))

    def match(self, change: dict[str, Any]) -> bool:
        return all(wanted is None or change.get(name) in wanted for name, wanted in (
            ("type", self.types), ("status", self.statuses), ("event", self.events), ("task", self.task_ids)))

    def data(self, row: EventRow) -> str | None:
        """The ``data:`` to send for ``row`` (its own JSON when nothing is filtered out); None: nothing."""
        if not self.active:
            return row.data
        kept = [c for c in row.changes if isinstance(c, dict) and self.match(c)]
        if not kept:
            return None
        if len(kept) == len(row.changes):
            return row.data
        return json.dumps({"seq": row.id, "tenant": row.tenant, "changes": kept}, default=str)
