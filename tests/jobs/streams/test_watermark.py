"""The watermark, without a database: late commits, rolled-back ids, huge jumps, many gaps."""

import random

import pytest

from jobs.streams.conf import streams_conf
from jobs.streams.reset import Reason
from jobs.streams.watermark import Watermark, covering_ranges

#: The give-up before SSE_GAP_SECONDS existed as a maximum: a late commit past it was skipped.
OLD_GIVE_UP = 5.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def covered(ranges: list[tuple[int, int]], i: int) -> bool:
    return any(a <= i <= b for a, b in ranges)


def test_watermark_waits_for_an_id_that_commits_late() -> None:
    clock = FakeClock()
    mark = Watermark(10, clock=clock)
    assert mark.low == 10 and mark.wanted() == (10, [])
    assert mark.accept(12)                      # 12 committed before 11
    assert mark.low == 10 and mark.gaps.keys() == {11}
    assert mark.wanted() == (12, [(11, 11)])
    assert mark.accept(13) and mark.low == 10
    assert mark.accept(11)                      # the late commit is delivered…
    assert mark.low == 13 and not mark.gaps
    assert not mark.accept(11) and not mark.accept(12)  # …once
    assert mark.given_up == 0 and mark.expire() == []


def test_a_commit_after_the_old_give_up_and_before_the_maximum_is_delivered() -> None:
    clock = FakeClock()
    mark = Watermark(0, clock=clock)            # the configured maximum (SSE_GAP_SECONDS)
    assert mark.gap_seconds == streams_conf().SSE_GAP_SECONDS == 300
    assert mark.accept(2)
    for waited in (OLD_GIVE_UP + 1, 60, 299):
        clock.now = 100.0 + waited
        assert mark.expire() == [], f"still awaited after {waited} s"
        assert mark.wanted() == (2, [(1, 1)]), "and still asked for by every poll"
    assert mark.accept(1), "the transaction committed after 299 s: delivered"
    assert mark.low == 2 and mark.given_up == 0


def test_watermark_gives_up_an_id_past_the_maximum_and_says_so() -> None:
    clock = FakeClock()
    mark = Watermark(0, clock=clock, gap_seconds=5)
    for i in (1, 2, 4, 7):
        assert mark.accept(i)
    assert mark.low == 2 and set(mark.gaps) == {3, 5, 6}
    clock.now += 3
    assert mark.accept(5)
    assert mark.expire() == [] and mark.low == 2
    clock.now += 2.5
    [given_up] = mark.expire()                  # never committed: given up after 5 s…
    assert given_up.reason is Reason.GAP_TIMEOUT and list(given_up.ids) == [3, 6]
    assert mark.low == 7 and mark.given_up == 2 and mark.horizon == 6
    assert mark.expire() == [], "…once"
    assert not mark.accept(4)
    assert mark.accept(6) is False              # too late: given up ids are not delivered


def test_watermark_tracks_only_the_nearest_ids_of_a_huge_jump_and_gives_the_rest_up() -> None:
    span = streams_conf().SSE_MAX_GAP_SPAN
    mark = Watermark(5)
    assert mark.accept(5 + span * 3)
    assert len(mark.gaps) == span and min(mark.gaps) == 5 + span * 2
    assert mark.pending
    [given_up] = mark.take()
    assert given_up.reason is Reason.GAP_SPAN
    assert (given_up.ids[0], given_up.ids[-1], len(given_up.ids)) == (6, 4 + span * 2, span * 2 - 1)
    assert mark.horizon == 4 + span * 2 and mark.low == 4 + span * 2
    assert mark.wanted() == (5 + span * 3, [(5 + span * 2, 4 + span * 3)]), "one range, whatever its length"

    # Gaps left behind by the top moving on are given up too, never silently forgotten.
    assert mark.accept(5 + span * 3 + 10)
    [given_up] = mark.take()
    assert given_up.reason is Reason.GAP_SPAN and len(given_up.ids) == 10
    assert min(mark.gaps) >= mark.top - span


@pytest.mark.parametrize("count", [600, 5000])
def test_every_gap_is_asked_for_however_many_there_are(count: int) -> None:
    limit = streams_conf().SSE_GAP_RANGES
    mark = Watermark(0)
    rng = random.Random(count)  # noqa: S311 (a seeded layout of gaps, not a secret)
    top = count * 10
    missing = set(rng.sample(range(1, top), count))
    for i in range(1, top + 1):
        if i not in missing:
            assert mark.accept(i)
    assert set(mark.gaps) == missing
    _, ranges = mark.wanted()
    assert len(ranges) <= limit
    assert all(covered(ranges, g) for g in missing), "no gap is left out of the poll"
    if count <= limit:
        assert sum(b - a + 1 for a, b in ranges) == count, "no merge needed: nothing already seen is read again"
    for g in sorted(missing):
        assert mark.accept(g)
    assert mark.low == top and not mark.gaps and mark.given_up == 0


def test_covering_ranges_merge_the_closest_runs() -> None:
    ids = [1, 2, 3, 10, 12, 40, 41, 100]
    assert covering_ranges(ids, 10) == [(1, 3), (10, 10), (12, 12), (40, 41), (100, 100)]
    assert covering_ranges(ids, 3) == [(1, 12), (40, 41), (100, 100)]
    assert covering_ranges(ids, 1) == [(1, 100)]
    assert covering_ranges([], 3) == []


def test_start_up_gaps_older_than_the_maximum_are_not_awaited() -> None:
    clock = FakeClock()
    # Ages as the start-up scan estimates them (the age of the nearest row above each id).
    mark = Watermark(20, gaps=[3, 8, 15], ages={3: 400.0, 8: 120.0, 15: 1.0}, floor=2, clock=clock)
    assert set(mark.gaps) == {8, 15}, "id 3 has been missing for longer than a transaction may stay open"
    assert mark.horizon == 3 and mark.given_up == 0 and mark.low == 7
    clock.now += 300 - 120
    [given_up] = mark.expire()
    assert list(given_up.ids) == [8], "each awaited for what remains of the maximum"
    clock.now += 120
    [given_up] = mark.expire()
    assert list(given_up.ids) == [15] and mark.low == 20
