"""SSE framing."""

from jobs.streams.sse import message


def test_sse_message_splits_multiline_data() -> None:
    assert message("feed", "<li>a</li>\n<li>b</li>\r\n<li>c</li>") == (
        b"event: feed\ndata: <li>a</li>\ndata: <li>b</li>\ndata: <li>c</li>\n\n")
    assert message("tasks", '{"seq": 3}', id=7) == b'id: 7\nevent: tasks\ndata: {"seq": 3}\n\n'
    assert message("chart", "") == b"event: chart\ndata: \n\n"

