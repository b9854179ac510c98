"""Tick arithmetic: cron (5 and 6 fields), intervals on the epoch grid, time zones and DST."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from jobs.services.cron import InvalidSchedule, Timing, format_every, parse_every


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def local(timing: Timing, ticks: list[datetime]) -> list[str]:
    return [t.astimezone(timing.zone).isoformat() for t in ticks]


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("every 30s", 30), ("5m", 300), ("1h", 3600), ("1d", 86400), ("90", 90), (45, 45),
    ("1h30m", 5400), (" Every 2S ", 2),
])
def test_intervals_parse(text: object, seconds: int) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "-5", "5x", "soon", "5m garbage", True, 1.5, None, [], "400d"])
def test_bad_intervals_name_the_field(text: object) -> None:
    with pytest.raises(InvalidSchedule) as exc:
        parse_every(text)
    assert exc.value.field == "every"


def test_interval_short_form_reads_back() -> None:
    for seconds in (1, 59, 60, 90, 3600, 5400, 86400 + 61):
        assert parse_every(format_every(seconds)) == seconds


@pytest.mark.parametrize(("expr", "field", "words"), [
    ("61 * * * *", "cron", "61"),
    ("* * * *", "cron", "5 fields"),
    ("* * * * * * *", "cron", "5 fields"),
    ("0 0 31 2 *", "cron", "'0 0 31 2 *'"),
    ("", "cron", "required"),
    ("@hourly", "cron", "5 fields"),
])
def test_bad_cron_is_a_clear_error(expr: str, field: str, words: str) -> None:
    with pytest.raises(InvalidSchedule) as exc:
        Timing.of(cron=expr)
    assert exc.value.field == field
    assert words in exc.value.message


def test_unknown_zone_names_the_field() -> None:
    for zone in ("Mars/Olympus", "", "../etc/passwd", None):
        with pytest.raises(InvalidSchedule) as exc:
            Timing.of(cron="* * * * *", timezone=zone)
        assert exc.value.field == "timezone"


def test_cron_and_every_exclusive() -> None:
    with pytest.raises(InvalidSchedule, match="not both"):
        Timing.of(cron="* * * * *", every="5s")
    with pytest.raises(InvalidSchedule) as exc:
        Timing.of()
    assert exc.value.field == "cron"


def test_six_fields_have_seconds_first() -> None:
    timing = Timing.of(cron="*/15 * * * * *")
    ticks = list(timing.ticks(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:01:00Z")))
    assert [t.second for t in ticks] == [0, 15, 30, 45, 0]


def test_intervals_tick_on_the_epoch_grid_whoever_computes() -> None:
    timing = Timing.of(every="7s", timezone="Asia/Tokyo")
    a = timing.next_after(at("2026-05-01T12:00:00.123Z"))
    b = timing.next_after(at("2026-05-01T12:00:03Z"))
    assert a == b
    assert a is not None and (a - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() % 7 == 0
    assert timing.latest_at_or_before(a) == a
    assert timing.next_after(a) == a + timedelta(seconds=7)
    assert timing.count(a, a + timedelta(seconds=70)) == 11


def test_berlin_daily_at_0230_fires_once_on_spring_forward_and_on_fall_back() -> None:
    timing = Timing.of(cron="30 2 * * *", timezone="Europe/Berlin")
    spring = list(timing.ticks(at("2026-03-28T12:00:00Z"), at("2026-03-30T12:00:00Z")))
    # 02:30 does not exist on 29 March: the first real minute after the gap, once.
    assert local(timing, spring) == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]
    autumn = list(timing.ticks(at("2026-10-24T12:00:00Z"), at("2026-10-26T12:00:00Z")))
    # 02:30 happens twice on 25 October: the first one only.
    assert local(timing, autumn) == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]


def test_new_york_daily_at_0230_fires_once_on_both_changes() -> None:
    timing = Timing.of(cron="30 2 * * *", timezone="America/New_York")
    spring = list(timing.ticks(at("2026-03-07T12:00:00Z"), at("2026-03-09T12:00:00Z")))
    assert local(timing, spring) == ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]
    autumn = list(timing.ticks(at("2026-10-31T12:00:00Z"), at("2026-11-02T12:00:00Z")))
    assert local(timing, autumn) == ["2026-11-01T02:30:00-05:00", "2026-11-02T02:30:00-05:00"]
    # Read from inside the repeated hour (01:45 EST, after the first 01:xx), the next is still ahead.
    inside = at("2026-11-01T06:45:00Z")
    nxt = timing.next_after(inside)
    assert nxt is not None and nxt > inside


@pytest.mark.parametrize(("zone", "start", "hours"), [
    ("Europe/Berlin", "2026-10-24T23:00:00Z", 25),   # the fall-back day has 25 hours
    ("Europe/Berlin", "2026-03-28T23:00:00Z", 23),   # the spring-forward day 23
    ("America/New_York", "2026-11-01T04:00:00Z", 25),
    ("America/New_York", "2026-03-08T05:00:00Z", 23),
])
def test_hourly_fires_each_real_hour(zone: str, start: str, hours: int) -> None:
    timing = Timing.of(cron="0 * * * *", timezone=zone)
    first = at(start)
    ticks = list(timing.ticks(first, first + timedelta(hours=hours) - timedelta(seconds=1)))
    assert len(ticks) == hours
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(ticks))


def test_latest_at_or_before_and_next_after_bracket_now() -> None:
    timing = Timing.of(cron="*/5 * * * *", timezone="Europe/Berlin")
    now = at("2026-06-01T10:07:30.5Z")
    assert timing.latest_at_or_before(now) == at("2026-06-01T10:05:00Z")
    assert timing.next_after(now) == at("2026-06-01T10:10:00Z")
    assert timing.latest_at_or_before(at("2026-06-01T10:05:00Z")) == at("2026-06-01T10:05:00Z")
    assert timing.count(at("2026-06-01T10:00:00Z"), now) == 2


@pytest.mark.parametrize("expr", ["30 2 * * *", "0 * * * *", "*/20 1-3 * * *", "15 2 * * 0", "0 30 2 * * *",
                                  "0 */10 * * * *"])
@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "UTC"])
def test_listing_ticks_agrees_with_stepping_one_at_a_time(expr: str, zone: str) -> None:
    """``ticks`` (one cron iterator, for long gaps) and ``next_after`` (one step) give the same ticks."""
    timing = Timing.of(cron=expr, timezone=zone)
    for start in ("2026-03-07T22:00:00.5Z", "2026-03-28T22:00:00Z", "2026-10-24T23:59:59Z",
                  "2026-10-31T23:00:00Z"):
        first = at(start)
        last = first + timedelta(days=2)
        listed = list(timing.ticks(first, last))
        stepped, tick = [], timing.next_after(first - timedelta(microseconds=1))
        while tick is not None and tick <= last:
            stepped.append(tick)
            tick = timing.next_after(tick)
        assert listed == stepped, (expr, zone, start)
        assert timing.count(first, last) == len(listed)
