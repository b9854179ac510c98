"""Deleting dead-lettered tasks (the dead letter's "Discard"): not a status change, but a write on
``Task`` that must not race one, so it lives here beside the transitions it must not undo."""

from django.db import transaction
from django.db.models import Q

from ..lifecycle import Status
from ..models import Task


def discard_failed(ids: list[int], within: Q) -> list[int]:
    """Delete those of ``ids`` that are still failed and match ``within`` (the confirmation's cut-off);
    return the ids deleted. A task requeued meanwhile no longer matches and stays."""
    with transaction.atomic():
        # Lock first: the delete collects its rows again (for the SET_NULL references), and a requeue
        # committing in between must not have its task deleted under it.
        kept = list(Task.objects.filter(within, pk__in=ids, status=Status.FAILED).select_for_update()
                    .order_by("pk").values_list("pk", flat=True))
        if kept:
            Task.objects.filter(pk__in=kept).delete()
    return kept
