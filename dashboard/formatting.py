"""Numbers, durations, percentages and times formatted for people (one place, used by templates and charts)."""

from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString

DASH = "—"


def number(value: int | float | None) -> str:
    """``1234567`` → ``1,234,567``; floats keep one decimal when they have one."""
    if value is None:
        return DASH
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _trim(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def duration_ms(value: float | int | timedelta | None) -> str:
    """Milliseconds as ``850 ms``, ``1.2 s``, ``3.5 min``, ``2.1 h`` or ``3.2 d``."""
    if value is None:
        return DASH
    ms = value.total_seconds() * 1000 if isinstance(value, timedelta) else float(value)
    sign = "−" if ms < 0 else ""
    ms = abs(ms)
    if ms < 10:
        text = f"{_trim(ms)} ms"
    elif ms < 1000:
        text = f"{round(ms)} ms"
    elif ms < 60_000:
        text = f"{_trim(ms / 1000)} s"
    elif ms < 3_600_000:
        text = f"{_trim(ms / 60_000)} min"
    elif ms < 48 * 3_600_000:
        text = f"{_trim(ms / 3_600_000)} h"
    else:
        text = f"{_trim(ms / 86_400_000)} d"
    return sign + text


def skew(seconds: float | None) -> str:
    """A host clock's offset from the database's: ``+30.0 s``, ``−0.2 s``."""
    if seconds is None:
        return DASH
    return f"{'−' if seconds < 0 else '+'}{abs(seconds):.1f} s"


def percent(ratio: float | None) -> str:
    """A ratio (0 … 1) as ``12.3%``."""
    if ratio is None:
        return DASH
    if ratio == 0:
        return "0%"
    if 0 < ratio < 0.0001:
        return "<0.01%"
    if ratio < 0.01:
        return f"{ratio * 100:.2f}".rstrip("0").rstrip(".") + "%"
    return f"{_trim(ratio * 100)}%"


def as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    moment = parse_datetime(value) if isinstance(value, str) else value
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(value: datetime | str | None) -> str:
    moment = as_datetime(value)
    return "" if moment is None else moment.isoformat().replace("+00:00", "Z")


#: How each format is shown server-side (UTC); console.js re-renders it in the viewer's zone.
FORMATS = {
    "datetime": "%Y-%m-%d %H:%M:%S",
    "time": "%H:%M:%S",
    "hm": "%H:%M",
}


def utc_text(value: datetime | str | None, fmt: str = "datetime") -> str:
    moment = as_datetime(value)
    if moment is None:
        return DASH
    return moment.strftime(FORMATS.get(fmt, FORMATS["datetime"])) + " UTC"


def time_tag(value: datetime | str | None, fmt: str = "datetime") -> SafeString:
    """``<time datetime="…Z" data-fmt="…">… UTC</time>``; the console script localises it."""
    moment = as_datetime(value)
    if moment is None:
        return format_html("<span>{}</span>", DASH)
    return format_html('<time datetime="{}" data-fmt="{}" title="{}">{}</time>',
                       iso(moment), fmt, utc_text(moment), utc_text(moment, fmt))
