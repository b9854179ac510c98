"""Inline SVG charts, rendered on the server (no chart library, no JavaScript needed).

Every chart is ``role="img"`` with a ``<title>`` and a ``<desc>`` (its text summary) named by
``aria-labelledby``; pages also show the numbers in a table. Colours come from CSS classes
(``s-completed``, ``s-failed`` …) so the page's stylesheet decides the palette and contrast.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from . import formatting


@dataclass(frozen=True, slots=True)
class Series:
    key: str
    label: str
    css: str


@dataclass(slots=True)
class Bar:
    """One horizontal bar: stacked ``(value, css, name)`` segments and the text shown after it."""

    segments: list[tuple[float, str, str]]
    text: str
    name: str = ""

    @property
    def total(self) -> float:
        return sum(v for v, _, _ in self.segments)


@dataclass(slots=True)
class Row:
    label: str
    bars: list[Bar]
    css: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def nice_max(value: float) -> float:
    """The smallest of 2, 4, 6, 8, 10 × 10ⁿ that is ≥ ``value`` (so the half-way tick is round too)."""
    if value <= 0:
        return 2
    scale = 1.0
    while scale * 10 < value:
        scale *= 10
    while scale > value and scale > 1e-9:
        scale /= 10
    for m in (2, 4, 6, 8, 10, 20):
        if m * scale >= value:
            return m * scale
    return 20 * scale  # pragma: no cover - unreachable


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _svg(chart_id: str, title: str, desc: str, width: int, height: int, body: SafeString,
         css: str = "chart") -> SafeString:
    return format_html(
        '<svg class="{css}" id="{id}" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {w} {h}" '
        'width="{w}" height="{h}" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>{body}</svg>',
        css=css, id=chart_id, w=width, h=height, title=title, desc=desc, body=body,
    )


def stacked_columns(
    points: Sequence[dict[str, Any]],
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    desc: str,
    time_key: str = "timestamp",
    time_fmt: str = "hm",
    width: int = 720,
    height: int = 220,
) -> SafeString:
    """Stacked columns over time (e.g. completed/failed/cancelled per bucket)."""
    left, right, top, bottom = 56, 8, 10, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(int(p.get(s.key) or 0) for s in series) for p in points]
    top_value = nice_max(max(totals, default=0))
    parts: list[SafeString] = []
    for tick in (0, top_value / 2, top_value):
        y = top + plot_h - plot_h * tick / top_value
        parts.append(format_html(
            '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text class="axis" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
            left, width - right, _f(y), _f(y), left - 6, _f(y), formatting.number(tick),
        ))
    n = max(1, len(points))
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.78)
    label_every = max(1, -(-n // 8))
    for i, point in enumerate(points):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        rects: list[SafeString] = []
        for s in series:
            value = int(point.get(s.key) or 0)
            if value <= 0:
                continue
            h = plot_h * value / top_value
            y -= h
            rects.append(format_html('<rect class="{}" x="{}" y="{}" width="{}" height="{}"/>',
                                     s.css, _f(x), _f(y), _f(bar_w), _f(h)))
        moment = point.get(time_key)
        rest = ": " + ", ".join(f"{formatting.number(int(point.get(s.key) or 0))} {s.label.lower()}" for s in series)
        parts.append(format_html(
            '<g class="col"><title data-ts="{}" data-fmt="time" data-rest="{}">{}{}</title>'
            '<rect class="hit" x="{}" y="{}" width="{}" height="{}"/>{}</g>',
            formatting.iso(moment), rest, formatting.utc_text(moment, "time"), rest,
            _f(left + i * slot), top, _f(slot), plot_h, mark_safe("".join(rects)),  # noqa: S308 — built by format_html
        ))
        if i % label_every == 0:
            parts.append(format_html(
                '<text class="axis" x="{}" y="{}" text-anchor="middle" data-ts="{}" data-fmt="{}">{}</text>',
                _f(left + i * slot + slot / 2), height - 8, formatting.iso(moment), time_fmt,
                formatting.utc_text(moment, time_fmt).removesuffix(" UTC"),
            ))
    parts.append(format_html('<line class="axis-line" x1="{}" x2="{}" y1="{}" y2="{}"/>',
                             left, width - right, top + plot_h, top + plot_h))
    body = mark_safe("".join(parts))  # noqa: S308 — every part is built by format_html
    return _svg(chart_id, title, desc, width, height, body)


def hbars(
    rows: Sequence[Row],
    *,
    chart_id: str,
    title: str,
    desc: str,
    scale_max: float | None = None,
    width: int = 560,
    label_width: int = 120,
    value_width: int = 130,
    bar_height: int = 18,
) -> SafeString:
    """Horizontal bars, one row per label; a row may hold several bars (grouped) of stacked segments."""
    gap = 10
    inner = 3
    top_value = scale_max or max((b.total for r in rows for b in r.bars), default=0) or 1
    plot_w = width - label_width - value_width
    y = 6
    parts: list[SafeString] = []
    for row in rows:
        row_h = len(row.bars) * bar_height + (len(row.bars) - 1) * inner
        label = row.label if len(row.label) <= 18 else row.label[:17] + "…"
        parts.append(format_html(
            '<text class="label {}" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}{}</text>',
            row.css, label_width - 8, _f(y + row_h / 2), label, format_html("<title>{}</title>", row.label)
            if label != row.label else "",
        ))
        for bar in row.bars:
            x = float(label_width)
            segs: list[SafeString] = []
            for value, css, name in bar.segments:
                if value <= 0:
                    continue
                w = plot_w * min(value, top_value) / top_value
                segs.append(format_html(
                    '<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
                    css, _f(x), y, _f(max(w, 1.0)), bar_height, name,
                ))
                x += w
            parts.append(format_html(
                '<rect class="track" x="{}" y="{}" width="{}" height="{}"/>{}'
                '<text class="value" x="{}" y="{}" dominant-baseline="middle">{}</text>',
                label_width, y, plot_w, bar_height, mark_safe("".join(segs)),  # noqa: S308 — format_html parts
                _f(x + 6), _f(y + bar_height / 2), bar.text,
            ))
            y += bar_height + inner
        y += gap - inner
    height = max(y + 4, 30)
    return _svg(chart_id, title, desc, width, height, mark_safe("".join(parts)), css="chart hchart")  # noqa: S308


def legend(series: Sequence[Series]) -> SafeString:
    items = format_html_join("", '<li><span class="swatch {}" aria-hidden="true"></span>{}</li>',
                             ((s.css, s.label) for s in series))
    return format_html('<ul class="legend">{}</ul>', items)

