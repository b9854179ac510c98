"""The console's formatting and chart helpers, and its static assets."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.staticfiles import finders

from dashboard import charts, formatting

pytestmark = pytest.mark.django_db


def test_formatting() -> None:
    assert formatting.number(1234567) == "1,234,567" and formatting.number(None) == "—"
    assert [formatting.duration_ms(v) for v in (0.5, 850, 1500, 12_000, 90_000, 7_200_000, 3 * 86_400_000)] == \
        ["0.5 ms", "850 ms", "1.5 s", "12 s", "1.5 min", "2 h", "3 d"]
    assert formatting.duration_ms(timedelta(seconds=2)) == "2 s" and formatting.duration_ms(None) == "—"
    assert [formatting.percent(v) for v in (0, 0.00004, 0.0004, 0.1234, 0.25, 1)] == \
        ["0%", "<0.01%", "0.04%", "12.3%", "25%", "100%"]
    tag = formatting.time_tag(datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC))
    assert tag == ('<time datetime="2030-05-06T07:08:09Z" data-fmt="datetime" title="2030-05-06 07:08:09 UTC">'
                   "2030-05-06 07:08:09 UTC</time>")


def test_chart_helpers() -> None:
    assert [charts.nice_max(v) for v in (0, 1, 3, 9, 11, 45, 999)] == [2, 2, 4, 10, 20, 60, 1000]
    rows = [charts.Row(label, [charts.Bar([(value, "s-completed", label)], str(value))])
            for label, value in (("a & b", 3), ("c", 1))]
    svg = charts.hbars(rows, chart_id="t", title="T <1>", desc="D")
    assert svg.startswith('<svg class="chart hchart" id="t" role="img" aria-labelledby="t-title t-desc"')
    assert "T &lt;1&gt;" in svg and "a &amp; b" in svg


def test_static_assets_are_found() -> None:
    for path in ("dashboard/console.css", "dashboard/console.js", "django_htmx/htmx-2.min.js",
                 "django_htmx/ext/hx-sse-2.min.js"):
        assert finders.find(path), path
