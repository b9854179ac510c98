"""Bounded event streams (REVIEW M5, L4, L9, L19): caps per key and tenant across instances, replay depth,
slow clients, periodic re-authorization, the console's escaped fallback. Against real daphne processes
(on the MariaDB pass two of them sharing Redis).
"""

import asyncio
import html
import json
import socket
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from dashboard import live
from dashboard.stream import Panels
from jobs.models import Event
from tenants import keys
from tenants.models import ApiKey
from tests.support.outbox import insert
from tests.support.sse import Stream, log_in_through_daphne, request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def opened(streams: Callable[..., Stream], port: int, raw: str, path: str = "/api/sse/events",
           **headers: str) -> Stream:
    s = streams(port, path, {"X-API-Key": raw, **headers})
    if s.status == 200:
        s.wait(lambda s: any(m.id is not None for m in s.snapshot()), what="the opening id:")
    return s


def test_a_sixth_stream_of_a_key_is_refused_until_one_closes(tenant, other_tenant, servers, start_daphne,
                                                             streams) -> None:
    env = {"JOBS_SSE_MAX_STREAMS_PER_TENANT": "6"}
    # With Redis the count is shared: streams alternate between two instances.
    ports = [start_daphne(**env).port]
    if servers["redis_url"]:
        ports.append(start_daphne(**env).port)
    _, raw = keys.issue(tenant)
    _, second = keys.issue(tenant)
    _, elsewhere = keys.issue(other_tenant)

    held = [opened(streams, ports[i % len(ports)], raw) for i in range(5)]
    assert [s.status for s in held] == [200] * 5
    for port in ports:
        sixth = opened(streams, port, raw)
        assert sixth.status == 429 and sixth.headers["content-type"] == "application/problem+json"
        assert int(sixth.headers["retry-after"]) >= 1
    # The tenant's cap counts every key of the tenant; another tenant is not affected.
    assert opened(streams, ports[-1], second).status == 200
    assert opened(streams, ports[0], second).status == 429, "the tenant's sixth stream"
    assert opened(streams, ports[0], elsewhere).status == 200

    held[0].close()  # the slot comes back when the server sees the disconnect
    wait_for(lambda: opened(streams, ports[-1], raw).status == 200, timeout=30, what="the freed slot")


def test_the_refusal_is_a_problem_document_naming_the_scope(tenant, start_daphne) -> None:
    daphne = start_daphne(JOBS_SSE_MAX_STREAMS_PER_KEY="1")
    _, raw = keys.issue(tenant)
    first = Stream(daphne.port, "/api/sse/events", {"X-API-Key": raw})
    try:
        first.wait(lambda s: s.status == 200, timeout=30, what="the first stream")
        status, headers, body = request(daphne.port, "/api/sse/events", {"X-API-Key": raw})
        assert status == 429 and headers["content-type"] == "application/problem+json"
        problem = json.loads(body)
        assert problem["type"].endswith("/too-many-streams") and problem["status"] == 429
        assert problem["detail"].startswith("key: at most 1 event streams")
        assert problem["retry_after"] == int(headers["retry-after"]) >= 1
    finally:
        first.close()


@pytest.mark.mariadb
def test_a_killed_instances_slots_expire_with_their_lease(tenant, start_daphne, streams) -> None:
    """The lease (3 heartbeats) is what frees the slots of an instance that never ran its cleanup."""
    survivor = start_daphne(JOBS_SSE_MAX_STREAMS_PER_KEY="2")
    doomed = start_daphne(JOBS_SSE_MAX_STREAMS_PER_KEY="2")
    _, raw = keys.issue(tenant)
    assert [opened(streams, doomed.port, raw).status for _ in range(2)] == [200, 200]
    assert opened(streams, survivor.port, raw).status == 429
    doomed.proc.kill()
    doomed.proc.wait(30)
    wait_for(lambda: opened(streams, survivor.port, raw).status == 200, timeout=30, what="the lapsed leases")


def test_a_last_event_id_too_far_behind_is_reset_not_replayed(tenant, start_daphne, streams) -> None:
    daphne = start_daphne(JOBS_SSE_MAX_REPLAY_EVENTS="10")
    _, raw = keys.issue(tenant)
    rows = [insert(tenant.pk)[0] for _ in range(30)]
    _, probe_raw = keys.issue(tenant)

    def caught_up() -> bool:
        """The hub has seen the last row: a reset then points past every row (its id is the hub's top)."""
        probe = opened(streams, daphne.port, probe_raw)
        try:
            return probe.status == 200 and next(m.id for m in probe.snapshot() if m.id is not None) >= rows[-1]
        finally:
            probe.close()

    wait_for(caught_up, timeout=30, interval=0.5, what="the hub to see the rows")
    far = opened(streams, daphne.port, raw, **{"Last-Event-ID": str(rows[0])})
    far.wait(lambda s: s.events("reset"), what="the reset")
    first = next(m for m in far.snapshot() if m.event)
    assert first.event == "reset" and first.json()["reason"] == "too_far_behind"
    assert first.id is not None and first.id >= rows[-1], "live from now"
    assert not far.events("tasks"), "nothing replayed"

    near = opened(streams, daphne.port, raw, **{"Last-Event-ID": str(rows[-6])})
    near.wait(lambda s: {seq for seq, _, _ in s.changes()} >= set(rows[-5:]), what="the short replay")
    assert not near.events("reset")


def never_reading_client(port: int, raw: str) -> socket.socket:
    """A connection that asks for the stream with a tiny receive window and never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET /api/sse/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {raw}\r\n\r\n".encode())
    return sock


def test_a_client_that_stops_reading_is_dropped_and_its_slot_freed(tenant, start_daphne, streams) -> None:
    daphne = start_daphne(JOBS_SSE_MAX_STREAMS_PER_KEY="1", JOBS_SSE_MAX_BUFFER_BYTES="262144")
    _, raw = keys.issue(tenant)
    sock = never_reading_client(daphne.port, raw)
    try:
        sock.settimeout(30)
        head = b""
        while len(head) < 12:  # the status line's first 12 bytes, and nothing more is ever read
            head += sock.recv(12 - len(head))
        assert head == b"HTTP/1.1 200", "the silent client's stream started"
        assert opened(streams, daphne.port, raw).status == 429, "it holds the key's one slot"
        pad = "x" * 8000
        for _ in range(20):  # ~8 MB of events, far beyond every buffer on the way
            Event.objects.bulk_create([Event(tenant=tenant, changes=[{"event": "test", "pad": pad}])
                                       for _ in range(50)])
            if "stopped reading" in daphne.log():
                break
        wait_for(lambda: "stopped reading" in daphne.log(), timeout=60, what="the server to drop the client")
        wait_for(lambda: opened(streams, daphne.port, raw).status == 200, timeout=30, what="the slot, freed")
    finally:
        sock.close()


def test_a_revoked_key_ends_its_stream(tenant, daphne, streams) -> None:
    key, raw = keys.issue(tenant)
    s = opened(streams, daphne.port, raw)
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())  # as another instance would
    s.wait(lambda s: s.ended, timeout=30, what="the revoked key's stream to end")


def test_an_all_tenants_stream_ends_when_the_key_is_no_longer_an_operators(tenant, daphne, streams) -> None:
    key, raw = keys.issue(tenant, operator=True)
    everyone = opened(streams, daphne.port, raw, path="/api/sse/events?all=true")
    own = opened(streams, daphne.port, raw)
    assert everyone.status == own.status == 200
    ApiKey.objects.filter(pk=key.pk).update(is_operator=False)
    everyone.wait(lambda s: s.ended, timeout=30, what="the all=true stream to end")
    insert(tenant.pk)
    own.wait(lambda s: s.events("tasks"), what="the key's own tenant stream carries on")
    assert not own.ended


def console_user(port: int, name: str) -> tuple[User, str]:
    password = "pw-" + name * 3
    user = User.objects.create_user(name, password=password, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_task", content_type__app_label="jobs"))
    return user, log_in_through_daphne(port, name, password)


def test_the_console_stream_ends_when_its_login_or_permission_ends(tenant, daphne, streams) -> None:
    from django.contrib.sessions.models import Session

    _, session = console_user(daphne.port, "watcher")
    console = streams(daphne.port, "/console/events", {"Cookie": f"sessionid={session}"})
    assert console.status == 200
    Session.objects.filter(session_key=session).delete()  # logged out elsewhere (the session flushed)
    console.wait(lambda s: s.ended, timeout=30, what="the logged-out console stream to end")

    user, session = console_user(daphne.port, "demoted")
    console = streams(daphne.port, "/console/events", {"Cookie": f"sessionid={session}"})
    assert console.status == 200
    user.user_permissions.clear()
    console.wait(lambda s: s.ended, timeout=30, what="the stream of a user who lost view_task to end")

    user, session = console_user(daphne.port, "leaver")
    console = streams(daphne.port, "/console/events", {"Cookie": f"sessionid={session}"})
    assert console.status == 200
    User.objects.filter(pk=user.pk).update(is_active=False)
    console.wait(lambda s: s.ended, timeout=30, what="the stream of a deactivated user to end")

    _, session = console_user(daphne.port, "stayer")
    console = streams(daphne.port, "/console/events", {"Cookie": f"sessionid={session}"})
    console.wait(lambda s: sum("heartbeat" in m.comments for m in s.snapshot()) >= 3, timeout=30,
                 what="heartbeats past several re-checks")
    assert not console.ended, "a valid login keeps its stream"


def test_the_console_fallback_escapes_tenant_text(tenant) -> None:
    """A task type carrying markup, and the feed's renderer failing: the JSON swapped in by htmx is inert."""
    changes = [{"event": "task.failed", "type": "<script>alert(1)</script>", "error": "</li><img src=x>",
                "tenant": "acme", "seq": 1}]

    def render_feed(changes: list[dict[str, Any]]) -> str:
        raise RuntimeError("forced")

    render_feed.__name__ = live.render_feed.__name__
    sent = asyncio.run(Panels(0).render(render_feed, partial(dict, changes=changes), changes))
    assert "<" not in sent and ">" not in sent
    assert json.loads(html.unescape(sent)) == {"changes": changes}


def test_a_console_client_that_stops_reading_is_dropped_too(tenant, start_daphne) -> None:
    """Behind Channels' session middleware (it wraps ``send``) the bound holds as well."""
    daphne = start_daphne(JOBS_SSE_CHART_SECONDS="0.05", JOBS_SSE_WORKERS_SECONDS="0.05",
                          JOBS_SSE_MAX_BUFFER_BYTES="16384")
    _, session = console_user(daphne.port, "sleeper")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.connect(("127.0.0.1", daphne.port))
    try:
        sock.sendall(f"GET /console/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sessionid={session}\r\n\r\n"
                     .encode())
        # A snapshot every 50 ms, never read: the server must give up on it rather than hold them all.
        wait_for(lambda: "stopped reading" in daphne.log(), timeout=120, what="the server to drop the console client")
    finally:
        sock.close()
