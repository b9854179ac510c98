"""Deficit Round Robin charged by worker time (jobs.fairness, a CostTable): pure unit tests, no
database, no sleeps. Run times are told to the table, as the executors would."""

import itertools
from collections import Counter
from typing import NamedTuple

import pytest

from jobs.fairness import CostTable, DeficitRoundRobin

A, B, C = 101, 202, 303


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


def test_tenants_probed_while_no_cost_is_known_bank_no_credit() -> None:
    table = costs()  # a fresh process: nothing known
    drr = timed(table, weights={B: 3})
    ids = itertools.count(1)
    types = {A: "noop", B: "noop"}
    for _ in range(20):  # probes, charged 1 s each (the prior), none finished yet
        assert claim(drr, [A, B], 8, types, ids) == {A: 1, B: 1}
    for pk in range(1, 41):  # …then they finish, 1 ms each
        table.observe("noop", 0.001, run=(pk, 1))
    drr.plan([A, B], 0)
    assert all(-41_000 < d <= 0 for d in drr.deficit.values()), drr.deficit  # each owes its probes, no credit
    totals: Counter[int] = Counter({A: 20, B: 20})
    for _ in range(20):
        totals.update(claim(drr, [A, B], 8, types, ids, took={"noop": 0.001}))
    assert abs(totals[B] - 3 * totals[A]) <= 8, totals  # 1:3 within a round, the probes included


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


def test_a_lone_tenant_with_jittery_run_times_banks_at_most_one_quantum() -> None:
    table = costs(x=0.004)
    drr = timed(table)
    ids = itertools.count(1)
    for n in range(300):  # alone; its runs take 2 or 8 ms, quicker than estimated more often than not
        claim(drr, [A], 16, {A: "x"}, ids, took={"x": 0.002 if n % 3 else 0.008})
    claim(drr, [A, B], 16, {A: "x", B: "x"}, ids)  # B's probe
    asks = claim(drr, [A, B], 16, {A: "x", B: "x"}, ids)
    assert asks.get(B, 0) >= 4, asks  # a newcomer is served within a round, not after A's banked credit
