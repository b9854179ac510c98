"""Operator actions on tasks: cancel, requeue. Each is a guarded state change."""

from django.db import transaction

from tenants.models import Tenant

from . import wakeup
from .exceptions import InvalidTransition
from .models import Task, TaskQuerySet


def _scope(tenant: Tenant | None) -> TaskQuerySet:
    qs = Task.objects.all()
    return qs.filter(tenant=tenant) if tenant is not None else qs


def cancel(task_id: int, *, tenant: Tenant | None = None) -> Task:
    """Cancel a waiting task at once, or ask a running one to stop.

    Raises ``Task.DoesNotExist`` (also for another tenant's task) and
    ``InvalidTransition`` for a task that has already finished.
    """
    qs = _scope(tenant).filter(pk=task_id)
    with transaction.atomic():
        if qs.cancel_waiting():
            pass
        elif qs.request_cancel():
            transaction.on_commit(lambda: wakeup.announce(wakeup.CANCEL))
        else:
            task = qs.get()
            raise InvalidTransition(task.pk, task.status, "cancel")
    return qs.get()


def requeue(task_id: int, *, tenant: Tenant | None = None) -> Task:
    """Put a failed (dead-lettered) or cancelled task back in the queue with fresh attempts."""
    qs = _scope(tenant).filter(pk=task_id)
    if not qs.requeue():
        task = qs.get()
        raise InvalidTransition(task.pk, task.status, "requeue")
    transaction.on_commit(wakeup.announce)
    return qs.get()


def requeue_dead(*, tenant: Tenant | None = None, type: str | None = None, batch: int = 1000) -> int:
    """Requeue every dead-lettered task (optionally of one tenant or type), in bounded batches."""
    qs = _scope(tenant).dead()
    if type:
        qs = qs.filter(type=type)
    total = 0
    while ids := list(qs.order_by("id").values_list("id", flat=True)[:batch]):
        total += Task.objects.filter(id__in=ids).requeue()
    if total:
        transaction.on_commit(wakeup.announce)
    return total
