"""Deficit Round Robin over tenants (jobs.fairness): pure unit tests, no database.

Without a cost table every task costs 1; with one (the time-fair tests) the deficit is worker time.
"""

import itertools
from collections import Counter
from typing import NamedTuple

import pytest

from jobs.fairness import CostTable, DeficitRoundRobin

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


# --- Time-fair shares: the deficit charged by worker time (a CostTable) ---------------------


class Claim(NamedTuple):
    pk: int
    run: int
    tenant_id: int
    type: str


def costs(**seconds: float) -> CostTable:
    table = CostTable(floor_seconds=0.001, unknown_seconds=1.0)
    for task_type, value in seconds.items():
        table.observe(task_type, value)
    return table


def timed(table: CostTable, quantum: int = 2, weights: dict[int, int] | None = None) -> DeficitRoundRobin:
    return DeficitRoundRobin(quantum=quantum, weight_of=lambda t: (weights or {}).get(t, 1), costs=table)


def claim(drr: DeficitRoundRobin, ready: list[int], slots: int, types: dict[int, str],
          ids: "itertools.count[int]", took: dict[str, float] | None = None) -> dict[int, int]:
    """One plan, every ask met; each run then finishes taking ``took[type]`` seconds (if given)."""
    asks = drr.plan(ready, slots)
    claimed = [Claim(next(ids), 1, t, types[t]) for t, n in asks.items() for _ in range(n)]
    drr.settle(asks, dict(asks), claimed)
    for task in claimed if took is not None and drr.costs is not None else []:
        drr.costs.observe(task.type, took[task.type], run=(task.pk, task.run))
    return asks


def test_cost_table_moving_average_floor_and_prior() -> None:
    table = costs()
    assert table.cost("never") == table.prior() == 1_000_000  # nothing known: the pessimistic default
    table.observe("fast", 0.010, run=(1, 1))
    assert table.cost("fast") == 10_000
    table.observe("fast", 0.020)
    assert table.cost("fast") == 12_000  # 10 ms + (20 − 10) × 0.2
    table.observe("noop", 0.0)
    assert table.cost("noop") == 1_000  # the floor: a no-op still costs a claim and a write
    assert table.prior() == 1_000_000  # the median of known types is cheaper than the default
    for task_type in ("a", "b", "c"):
        table.observe(task_type, 5.0)
    assert table.cost("never") == 5_000_000  # …but not the median of slower known types
    assert list(table.done) == [((1, 1), 10_000)]  # runs named are kept for the true-up


def test_equal_costs_are_plain_drr_one_unit_per_task() -> None:
    for table in (costs(x=0.25), costs(x=0.004)):
        drr = timed(table, quantum=2, weights={B: 2})
        ids = itertools.count(1)
        sequence = []
        for _ in range(16):
            asks = claim(drr, [A, B, C], 1, {A: "x", B: "x", C: "x"}, ids, took={"x": table.cost("x") / 1e6})
            sequence += list(asks)
        assert sequence == [A, A, B, B, B, B, C, C] * 2


@pytest.mark.parametrize(("weights", "share"), [({}, 0.5), ({A: 1, B: 3}, 0.25)])
def test_1s_tasks_and_10ms_tasks_get_worker_time_by_weight(weights: dict[int, int], share: float) -> None:
    drr = timed(costs(slow=1.0, fast=0.010), weights=weights)
    ids = itertools.count(1)
    totals: Counter[int] = Counter()
    for _ in range(2500):
        totals.update(claim(drr, [A, B], 4, {A: "slow", B: "fast"}, ids, took={"slow": 1.0, "fast": 0.010}))
    slow, fast = totals[A] * 1.0, totals[B] * 0.010
    assert totals[A] >= 30  # never starved: at least one task per turn its deficit allows
    assert abs(slow / (slow + fast) - share) < 0.01, (slow, fast)


def test_a_tenant_of_hour_long_tasks_is_not_starved_and_plans_stay_cheap() -> None:
    table = costs(hour=3600.0, noop=0.0)
    drr = timed(table)
    ids = itertools.count(1)
    types = {A: "hour", B: "noop"}
    # A new tenant gets one probe (its type unknown, this claim comes back short: the dispatcher plans again).
    assert claim(drr, [A, B], 64, types, ids) == {A: 1, B: 1}
    assert drr.deficit[A] < -3000 * 1_000_000  # A owes about an hour…
    # …so B, of 1 ms tasks, takes every slot of the next plans (each a few steps, not a million).
    for _ in range(50):
        assert claim(drr, [A, B], 64, types, ids) == {B: 64}
    # Alone, A is never kept waiting by its debt: the rounds it would sit out are skipped at once.
    for _ in range(3):
        assert claim(drr, [A], 4, types, ids) == {A: 4}


def test_a_run_longer_than_its_estimate_is_charged_its_real_time() -> None:
    table = costs(fast=0.010, other=0.010)
    drr = timed(table)
    ids = itertools.count(1)
    types = {A: "fast", B: "other"}
    assert claim(drr, [A, B], 4, types, ids, took={"fast": 0.010, "other": 0.010}) == {A: 1, B: 1}  # probes
    assert sum(claim(drr, [A, B], 4, types, ids, took={"fast": 0.010, "other": 0.010}).values()) == 4
    # A's next two runs each take 1 s: the true-up charges 990 ms more each, so B takes ~200 tasks before A's next.
    claim(drr, [A, B], 4, types, ids, took={"fast": 1.0, "other": 0.010})
    totals: Counter[int] = Counter()
    for _ in range(40):
        totals.update(claim(drr, [A, B], 4, types, ids, took={"fast": 0.010, "other": 0.010}))
    assert totals[A] <= 8 and totals[B] >= 150, totals


def test_a_type_never_seen_is_charged_as_slow_until_its_runs_say_otherwise() -> None:
    table = costs(fast=0.010)
    drr = timed(table)
    ids = itertools.count(1)
    types = {A: "new", B: "fast"}
    claim(drr, [A, B], 64, types, ids)  # the probes
    asks = claim(drr, [A, B], 64, types, ids)
    assert asks.get(A, 0) <= 1 and asks[B] >= 63, asks  # no pile of a type nothing says is fast
    claim(drr, [A, B], 64, types, ids, took={"new": 0.010, "fast": 0.010})
    # Its runs were fast: refunded, it now takes its share.
    totals: Counter[int] = Counter()
    for _ in range(20):
        totals.update(claim(drr, [A, B], 64, types, ids, took={"new": 0.010, "fast": 0.010}))
    assert abs(totals[A] - totals[B]) <= 0.1 * (totals[A] + totals[B]), totals


def test_a_tenant_that_runs_dry_loses_its_debt_as_well_as_its_credit() -> None:
    drr = timed(costs(slow=1.0, fast=0.010))
    ids = itertools.count(1)
    claim(drr, [A, B], 2, {A: "slow", B: "fast"}, ids)
    claim(drr, [A, B], 2, {A: "slow", B: "fast"}, ids)
    assert drr.deficit[A] < 0
    drr.settle({A: 1}, {})  # asked, it had nothing: it ran dry
    assert A not in drr.ring and A not in drr.deficit
    assert A in drr.expected  # its expected cost is not credit: kept
    drr.plan([A, B], 0)
    assert drr.deficit[A] == 0  # back with neither credit nor debt
