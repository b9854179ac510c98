"""Concurrency caps at claim: a tenant's ``max_running`` across every instance, exact under races."""

from tenants.models import Tenant

from ..models import Task


def within_caps(asks: dict[int, int], capped: list[int], at_cap: set[int] | None) -> dict[int, int]:
    """``asks`` cut to what each capped tenant's ``max_running`` leaves free (two queries, none if no caps).

    Locking a tenant's row serialises the claims of that tenant across every instance until
    this transaction commits, so the running count read next already includes every other
    claim of it: no race over-admits. The locking SELECT re-reads the cap, so a cap changed
    since the caller's cache is exact. The count is served by ``task_claim_idx`` (status, tenant).

    Only the first capped tenant's lock is waited for, as this transaction's first statement,
    while it holds nothing; the others are taken with SKIP LOCKED (skipped this round if busy).
    A claim that waited while holding a tenant's row could deadlock with a transaction that
    inserts rows referencing several tenants (foreign-key checks take shared locks on them:
    the completer's events and rollups, an enqueue).
    """
    if not capped:
        return asks
    first, *others = capped
    locked = list(Tenant.objects.select_for_update().filter(pk=first).values_list("pk", "max_running"))
    if others:
        locked += Tenant.objects.select_for_update(skip_locked=True).filter(pk__in=others).values_list(
            "pk", "max_running")
    cut = dict(asks)
    for tenant_id in set(capped) - {pk for pk, _ in locked}:
        cut[tenant_id] = 0  # busy: another claim of it is under way (or a row refers to it)
        if at_cap is not None:
            at_cap.add(tenant_id)
    caps = {pk: cap for pk, cap in locked if cap is not None}  # None: the cap was lifted since
    if not caps:
        return cut
    running = dict(Task.objects.running_by_tenant(list(caps)))
    for tenant_id, cap in caps.items():
        room = max(0, cap - running.get(tenant_id, 0))
        if room < cut[tenant_id]:
            cut[tenant_id] = room
            if at_cap is not None:
                at_cap.add(tenant_id)
    return cut
