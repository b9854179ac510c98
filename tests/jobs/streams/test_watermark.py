"""The watermark, without a database: late commits, rolled-back ids, huge jumps."""

from jobs.streams.conf import streams_conf
from jobs.streams.watermark import Watermark


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_watermark_waits_for_an_id_that_commits_late() -> None:
    clock = FakeClock()
    mark = Watermark(10, clock=clock)
    assert mark.low == 10 and mark.wanted() == (10, [])
    assert mark.accept(12)                      # 12 committed before 11
    assert mark.low == 10 and mark.gaps.keys() == {11}
    assert mark.wanted() == (12, [11])
    assert mark.accept(13) and mark.low == 10
    assert mark.accept(11)                      # the late commit is delivered…
    assert mark.low == 13 and not mark.gaps
    assert not mark.accept(11) and not mark.accept(12)  # …once
    assert mark.given_up == 0


def test_watermark_gives_up_an_id_burned_by_a_rollback() -> None:
    clock = FakeClock()
    mark = Watermark(0, clock=clock, gap_seconds=5)
    for i in (1, 2, 4, 7):
        assert mark.accept(i)
    assert mark.low == 2 and set(mark.gaps) == {3, 5, 6}
    clock.now += 3
    assert mark.accept(5)
    assert mark.expire() == [] and mark.low == 2
    clock.now += 2.5
    assert sorted(mark.expire()) == [3, 6]      # never committed: given up after 5 s
    assert mark.low == 7 and mark.given_up == 2
    assert not mark.accept(4)
    assert mark.accept(6) is False              # too late: given up ids are not delivered


def test_watermark_tracks_only_the_nearest_ids_of_a_huge_jump() -> None:
    conf = streams_conf()
    mark = Watermark(5)
    assert mark.accept(5 + conf.SSE_MAX_GAP_SPAN * 3)
    assert len(mark.gaps) == conf.SSE_MAX_GAP_SPAN
    assert min(mark.gaps) == 5 + conf.SSE_MAX_GAP_SPAN * 2
    assert len(mark.wanted()[1]) == conf.SSE_MAX_GAP_IDS
    assert max(mark.wanted()[1]) == max(mark.gaps), "the newest gaps (likeliest in flight) are asked for"

