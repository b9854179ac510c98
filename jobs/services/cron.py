"""When a schedule ticks: cron expressions (cronsim) and fixed intervals, in a time zone. Pure: no database.

Every tick is a UTC instant that every instance computes alike from the schedule's definition
alone, so the tick's uniqueness (``ScheduleTick``: schedule + tick time) can decide who fired it.

* **Cron**: 5 fields, or 6 with seconds first (cronsim's form), read in the schedule's time zone.
  Daylight saving follows Debian cron, as cronsim does: a 5-field job at a wall time (neither minute
  nor hour starts with ``*``: a daily 02:30) fires once on the spring-forward day (at the first real
  minute after the gap, 03:00) and once on the fall-back day (the first 02:30); any other job runs on
  real time (hourly fires every real hour: twice at 02:00 on the fall-back day, an hour apart).
* **Intervals** ("every 30s", "5m", "1h", "1d", plain seconds) tick on a grid anchored at the Unix
  epoch: ``k × every`` seconds after 1970-01-01 00:00 UTC, whatever the zone and whoever computes it.
"""

import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cronsim import CronSim, CronSimError

from ..exceptions import InvalidTask

#: The longest interval, seconds (a year): longer than that, use a cron expression.
MAX_EVERY_SECONDS = 366 * 86_400
#: Ticks counted one by one when reporting how many were passed over (a cron every second down for
#: a year would be 31 million); past this the count says "at least".
MAX_COUNTED = 10_000
#: The longest cron expression (``Schedule.cron``).
MAX_CRON_CHARS = 120

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_EVERY = re.compile(r"(\d+)\s*([smhd])")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidSchedule(InvalidTask):
    """A schedule definition the engine refuses; ``field`` names the input (an ``InvalidTask``, so
    the API answers 400 with the field like any other validation error)."""


def parse_every(value: object, field: str = "every") -> int:
    """An interval in whole seconds: an integer, or ``"30s"``, ``"5m"``, ``"1h30m"``, ``"every 2s"``."""
    if isinstance(value, bool):
        raise InvalidSchedule(field, f"must be an interval such as 30s, 5m, 1h, 1d or a number of seconds "
                                     f"(got {value!r})")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, float) and value.is_integer():
        seconds = int(value)
    elif isinstance(value, str):
        text = value.strip().lower().removeprefix("every").strip()
        if text.isdigit():
            seconds = int(text)
        else:
            parts = _EVERY.findall(text)
            if not parts or _EVERY.sub("", text).strip():
                raise InvalidSchedule(field, f"must be an interval such as 30s, 5m, 1h, 1d or a number of seconds "
                                             f"(got {value!r})")
            seconds = sum(int(n) * _UNITS[unit] for n, unit in parts)
    else:
        raise InvalidSchedule(field, f"must be an interval such as 30s, 5m, 1h, 1d or a number of seconds "
                                     f"(got {value!r})")
    if not 1 <= seconds <= MAX_EVERY_SECONDS:
        raise InvalidSchedule(field, f"must be between 1 second and {MAX_EVERY_SECONDS // 86_400} days "
                                     f"(got {seconds} s)")
    return seconds


def format_every(seconds: int) -> str:
    """``90`` → ``"1m30s"``: the short form ``parse_every`` reads back."""
    out = ""
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out or "0s"


def parse_zone(name: object, field: str = "timezone") -> zoneinfo.ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise InvalidSchedule(field, "must be an IANA time zone name such as UTC or Europe/Berlin")
    try:
        return zoneinfo.ZoneInfo(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(field, f"unknown time zone {name!r} (an IANA name such as UTC or Europe/Berlin)") \
            from None


def check_cron(expr: object, field: str = "cron") -> str:
    """A cron expression cronsim reads (5 fields, or 6 with seconds first) that ever fires."""
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidSchedule(field, "must be a cron expression of 5 fields (or 6, seconds first)")
    text = " ".join(expr.split())
    if len(text) > MAX_CRON_CHARS:
        raise InvalidSchedule(field, f"at most {MAX_CRON_CHARS} characters")
    if len(text.split()) not in (5, 6):
        raise InvalidSchedule(field, f"must have 5 fields (minute hour day month weekday) or 6 (seconds first); "
                                     f"{text!r} has {len(text.split())}")
    try:
        next(CronSim(text, datetime(2000, 1, 1, tzinfo=UTC)))
    except CronSimError as exc:
        raise InvalidSchedule(field, f"{text!r}: {exc}") from None
    except StopIteration:
        raise InvalidSchedule(field, f"{text!r} never fires") from None
    return text


@dataclass(frozen=True)
class Timing:
    """A schedule's clock: exactly one of ``cron`` and ``every``, and the zone cron is read in."""

    cron: str = ""
    every: int | None = None
    timezone: str = "UTC"

    @classmethod
    def of(cls, cron: object = "", every: object = None, timezone: object = "UTC") -> "Timing":
        """Validate a definition (the field named in the error is ``cron``, ``every`` or ``timezone``)."""
        zone = parse_zone(timezone)
        has_cron = bool(cron) and cron != ""
        has_every = every is not None and every != ""
        if has_cron and has_every:
            raise InvalidSchedule("cron", "give cron or every, not both")
        if not has_cron and not has_every:
            raise InvalidSchedule("cron", "required: a cron expression, or every (an interval)")
        if has_cron:
            return cls(cron=check_cron(cron), timezone=zone.key)
        return cls(every=parse_every(every), timezone=zone.key)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def expression(self) -> str:
        """What people read: the cron expression, or ``every 30s``."""
        return self.cron if self.cron else f"every {format_every(self.every or 0)}"

    def next_after(self, moment: datetime) -> datetime | None:
        """The first tick strictly after ``moment`` (UTC), None if it never fires again."""
        if self.every:
            k = int((moment - _EPOCH).total_seconds() // self.every) + 1
            return _EPOCH + timedelta(seconds=k * self.every)
        try:
            for tick in CronSim(self.cron, moment.astimezone(self.zone)):
                # A wall-time job read across a fall-back starts from a naive local time and can
                # land before ``moment`` (the first 02:30 while in the second 02:xx): skip it.
                if (at := tick.astimezone(UTC)) > moment:
                    return at
        except StopIteration:
            return None
        return None

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        """The last tick at or before ``moment`` (UTC), None if there is none."""
        if self.every:
            k = int((moment - _EPOCH).total_seconds() // self.every)
            return _EPOCH + timedelta(seconds=k * self.every)
        start = moment.replace(microsecond=0) + timedelta(seconds=1)
        try:
            for tick in CronSim(self.cron, start.astimezone(self.zone), reverse=True):
                if (at := tick.astimezone(UTC)) <= moment:
                    return at
        except StopIteration:
            return None
        return None

    def ticks(self, first: datetime, last: datetime) -> Iterator[datetime]:
        """Every tick from ``first`` (itself a tick, or the first after it) through ``last``, in order."""
        if self.every:
            tick = first if self.is_tick(first) else self.next_after(first)
            while tick is not None and tick <= last:
                yield tick
                tick = tick + timedelta(seconds=self.every)
            return
        # One iterator (a new one per tick costs ten times more, and a long gap is counted tick by tick).
        previous = first - timedelta(seconds=1)
        try:
            start = (first.replace(microsecond=0) - timedelta(seconds=1)).astimezone(self.zone)
            for local in CronSim(self.cron, start):
                tick = local.astimezone(UTC)
                if tick > last:
                    return
                if tick >= first and tick > previous:  # the fall-back guard of ``next_after``
                    previous = tick
                    yield tick
        except StopIteration:
            return

    def count(self, first: datetime, last: datetime) -> int:
        """How many ticks from ``first`` through ``last`` (at most ``MAX_COUNTED`` for cron)."""
        if last < first:
            return 0
        if self.every:
            low = self.next_after(first - timedelta(microseconds=1))
            top = self.latest_at_or_before(last)
            if low is None or top is None or top < low:
                return 0
            return int((top - low).total_seconds() // self.every) + 1
        n = 0
        for _ in self.ticks(first, last):
            n += 1
            if n >= MAX_COUNTED:
                break
        return n

    def is_tick(self, moment: datetime) -> bool:
        return self.latest_at_or_before(moment) == moment
