"""Deficit Round Robin over tenants (jobs.fairness): pure unit tests, no database.

Every task costs 1 here (no cost table); charged by worker time: test_fairness_time.py.
"""

from collections import Counter

import pytest

from jobs.fairness import DeficitRoundRobin

A, B, C = 101, 202, 303


def make(quantum: int = 2, weights: dict[int, int] | None = None) -> DeficitRoundRobin:
    weights = weights or {}
    return DeficitRoundRobin(quantum=quantum, weight_of=lambda tenant: weights.get(tenant, 1))


def run(drr: DeficitRoundRobin, ready: list[int], slots: int, plans: int) -> Counter[int]:
    """Plan ``plans`` claims of ``slots`` each; every tenant always has enough work."""
    totals: Counter[int] = Counter()
    for _ in range(plans):
        asks = drr.plan(ready, slots)
        assert sum(asks.values()) == slots, asks
        assert set(asks) <= set(ready), asks
        drr.settle(asks, dict(asks))  # every ask was met in full
        totals.update(asks)
    return totals


def single_slot_sequence(drr: DeficitRoundRobin, ready: list[int], n: int) -> list[int]:
    sequence = []
    for _ in range(n):
        asks = drr.plan(ready, 1)
        assert len(asks) == 1 and sum(asks.values()) == 1, asks
        (tenant,) = asks
        drr.settle(asks, dict(asks))
        sequence.append(tenant)
    return sequence


def test_nothing_to_plan_without_ready_tenants_or_free_slots() -> None:
    drr = make()
    assert drr.plan([], 8) == {}
    assert drr.plan([A, B], 0) == {}


def test_equal_weights_split_every_round_evenly() -> None:
    drr = make(quantum=2)
    # One round is 2 slots per tenant: each plan of 6 slots is one full round.
    for _ in range(10):
        asks = drr.plan([A, B, C], 6)
        assert asks == {A: 2, B: 2, C: 2}
        drr.settle(asks, dict(asks))


def test_equal_weights_even_over_rounds_when_plans_do_not_align_with_rounds() -> None:
    drr = make(quantum=2)
    # 7 slots per plan never lines up with the 6-slot round, yet every 6 slots are fair.
    totals = run(drr, [A, B, C], slots=7, plans=6)  # 42 slots = 7 rounds
    assert totals == {A: 14, B: 14, C: 14}


def test_a_single_tenant_gets_every_slot() -> None:
    drr = make(quantum=2)
    assert drr.plan([A], 9) == {A: 9}


@pytest.mark.parametrize("slots", [1, 3, 5, 8, 13])
def test_weights_one_and_three_split_one_to_three_exactly(slots: int) -> None:
    drr = make(quantum=2, weights={A: 1, B: 3})
    round_size = 2 * 1 + 2 * 3
    plans = round_size * 10  # slots × plans is a whole number of rounds
    totals: Counter[int] = Counter()
    for n in range(1, plans + 1):
        asks = drr.plan([A, B], slots)
        drr.settle(asks, dict(asks))
        totals.update(asks)
        # Never further from 1:3 than one round's worth, at any point.
        assert abs(3 * totals[A] - totals[B]) <= 3 * round_size, (n, totals)
    assert totals[A] + totals[B] == slots * plans
    assert 3 * totals[A] == totals[B], totals


def test_weight_below_one_counts_as_one() -> None:
    drr = make(quantum=2, weights={A: 0, B: 1})
    assert run(drr, [A, B], slots=4, plans=5) == {A: 10, B: 10}


def test_cursor_carries_over_between_single_slot_plans() -> None:
    drr = make(quantum=1)
    assert single_slot_sequence(drr, [A, B, C], 9) == [A, B, C] * 3


def test_unspent_credit_is_used_by_the_next_plan_before_moving_on() -> None:
    drr = make(quantum=2)
    # A's quantum of 2 is spread over two one-slot plans, then B's, then C's.
    assert single_slot_sequence(drr, [A, B, C], 12) == [A, A, B, B, C, C] * 2


def test_single_slot_plans_are_fair_over_many_claims() -> None:
    drr = make(quantum=3, weights={A: 1, B: 2, C: 1})
    totals = Counter(single_slot_sequence(drr, [A, B, C], 12 * 20))  # round: 3 + 6 + 3 slots
    assert totals == {A: 60, B: 120, C: 60}


def test_tenant_leaving_before_the_cursor_does_not_skip_the_next_one() -> None:
    drr = make(quantum=1)
    assert single_slot_sequence(drr, [A, B, C], 2) == [A, B]
    # A has no more work: C, whose turn it is, must still come next (not B again, not skipped).
    assert single_slot_sequence(drr, [B, C], 3) == [C, B, C]


def test_tenant_that_ran_dry_loses_its_deficit_and_leaves_the_ring() -> None:
    drr = make(quantum=4)
    asks = drr.plan([A, B], 2)
    assert asks == {A: 2}  # A keeps 2 unspent credit and the turn
    drr.settle(asks, {A: 1})  # …but it only had 1 task: it ran dry
    assert A not in drr.ring
    assert A not in drr.deficit
    assert drr.ring == [B]
    # A's stale entry in the ready list brings it back at the end of the ring with no
    # credit: B is served first, and A is not paid the 2 it left unspent.
    asks = drr.plan([A, B], 4)
    assert asks == {B: 4}
    drr.settle(asks, dict(asks))
    assert drr.plan([A, B], 4) == {A: 4}


def test_tenant_that_got_what_it_asked_keeps_its_turn_and_credit() -> None:
    drr = make(quantum=4)
    asks = drr.plan([A, B], 2)
    assert asks == {A: 2}
    drr.settle(asks, {A: 2})
    assert drr.plan([A, B], 4) == {A: 2, B: 2}


def test_dry_tenant_at_the_end_of_the_ring_wraps_the_cursor() -> None:
    drr = make(quantum=2)
    asks = drr.plan([A, B], 3)
    assert asks == {A: 2, B: 1}
    drr.settle(asks, {A: 2})  # B, holding the turn at the end of the ring, had nothing
    assert drr.ring == [A]
    assert drr.plan([A], 3) == {A: 3}


def test_newly_ready_tenant_is_served_within_one_round() -> None:
    weights = {A: 3, B: 1}
    quantum = 2
    round_size = quantum * (weights[A] + weights[B])
    for warm_up in range(0, 2 * round_size):
        drr = make(quantum=quantum, weights=weights)
        # A has had the workers to itself for a while, possibly in the middle of its credit.
        assert run(drr, [A], slots=1, plans=warm_up) == ({A: warm_up} if warm_up else {})
        sequence = single_slot_sequence(drr, [A, B], round_size)
        assert B in sequence, (warm_up, sequence)
        # At most A's own share of a round goes first.
        assert sequence.index(B) <= quantum * weights[A], (warm_up, sequence)


def test_newly_ready_tenant_gets_its_share_in_the_first_full_plan() -> None:
    drr = make(quantum=2, weights={A: 3, B: 1})
    run(drr, [A], slots=10, plans=3)  # A alone took everything
    asks = drr.plan([A, B], 8)
    assert asks.get(B, 0) >= 2, asks
    assert asks[A] + asks[B] == 8
