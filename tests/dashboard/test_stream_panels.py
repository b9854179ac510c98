"""The console stream's panels: a fragment that fails to render is replaced by its JSON, escaped."""

import asyncio
import html
import json
from functools import partial

import pytest

from dashboard.stream import Panels


def render_feed(changes: list[dict[str, str]]) -> str:
    raise RuntimeError("the template is broken")


def test_a_failing_panel_sends_its_fallback_json_html_escaped(caplog: pytest.LogCaptureFixture) -> None:
    changes = [{"event": "task.failed", "type": "<img src=x onerror=alert(1)>"}]
    panels = Panels(shared_seconds=0)
    for _ in range(2):
        sent = asyncio.run(panels.render(render_feed, partial(dict, changes=changes), changes))
        assert "<" not in sent and '"' not in sent, "htmx swaps it in as HTML: nothing may become markup"
        assert json.loads(html.unescape(sent)) == {"changes": changes}
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1, "the traceback once per stream"
