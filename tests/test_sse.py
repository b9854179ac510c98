"""The live event streams: the hub's watermark, and real daphne + worker processes end to end."""

import asyncio
import http.client
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.test import Client

from jobs import eventhub
from jobs.eventhub import EventHub, EventRow, Feed, QueueSubscription, Watermark
from jobs.lifecycle import Status
from jobs.models import Event, Task
from jobs.services.enqueue import enqueue, enqueue_many
from jobs.sse import message
from tenants import keys
from tests.conftest import DaphneServer, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


# -- the watermark, without a database ---------------------------------------------------------------------


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
    mark = Watermark(5)
    assert mark.accept(5 + eventhub.MAX_GAP_SPAN * 3)
    assert len(mark.gaps) == eventhub.MAX_GAP_SPAN
    assert min(mark.gaps) == 5 + eventhub.MAX_GAP_SPAN * 2
    assert len(mark.wanted()[1]) == eventhub.MAX_GAP_IDS
    assert max(mark.wanted()[1]) == max(mark.gaps), "the newest gaps (likeliest in flight) are asked for"


def test_sse_message_splits_multiline_data() -> None:
    assert message("feed", "<li>a</li>\n<li>b</li>\r\n<li>c</li>") == (
        b"event: feed\ndata: <li>a</li>\ndata: <li>b</li>\ndata: <li>c</li>\n\n")
    assert message("tasks", '{"seq": 3}', id=7) == b'id: 7\nevent: tasks\ndata: {"seq": 3}\n\n'
    assert message("chart", "") == b"event: chart\ndata: \n\n"


# -- the hub against the database -------------------------------------------------------------------------


def insert(tenant_id: int, *ids: int) -> list[int]:
    """Insert outbox rows (with the given ids, in that order; or one with a fresh id)."""
    if not ids:
        return [Event.objects.create(tenant_id=tenant_id, changes=[{"event": "test"}]).pk]
    for pk in ids:
        Event.objects.create(id=pk, tenant_id=tenant_id, changes=[{"event": "test", "id": pk}])
    return list(ids)


async def ainsert(tenant_id: int, *ids: int) -> list[int]:
    return await database_sync_to_async(insert, thread_sensitive=False)(tenant_id, *ids)


async def drain(sub: QueueSubscription, want: int, timeout: float = 20) -> list[tuple[EventRow, int]]:
    """Wait until ``sub`` holds ``want`` rows; return (and remove) them."""
    deadline = time.monotonic() + timeout
    while len(sub.queue) < want:
        if time.monotonic() > deadline:
            raise AssertionError(f"got {[r.id for r, _ in sub.queue]}, wanted {want} row(s)")
        await asyncio.sleep(0.02)
    out = list(sub.queue)
    sub.queue.clear()
    return out


async def until(predicate: Callable[[], bool], timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_hub_delivers_out_of_order_commits_once_and_gives_up_burned_ids(tenant, other_tenant) -> None:
    async def main() -> None:
        hub = EventHub(poll_seconds=0.05, gap_seconds=1.0)
        everything, mine = QueueSubscription(None), QueueSubscription(tenant.pk)
        joined = await hub.subscribe(everything)
        await hub.subscribe(mine)
        # Ids deleted by earlier tests look like in-flight ones to a starting hub: wait them out.
        await until(lambda: hub.low == joined.top, what="the start-up gaps to be given up")
        b = joined.top

        await ainsert(tenant.pk, b + 2)              # b+1 is still "in flight"
        [(row, low)] = await drain(everything, 1)
        assert row.id == b + 2 and low == b, "the watermark stays below the missing id"
        await ainsert(other_tenant.pk, b + 1)         # …and commits late
        [(row, low)] = await drain(everything, 1)
        assert (row.id, low) == (b + 1, b + 2)
        assert [r.id for r, _ in await drain(mine, 1)] == [b + 2], "tenant filter"

        await ainsert(tenant.pk, b + 4)              # b+3 never commits (a rollback burned it)
        [(row, low)] = await drain(everything, 1)
        assert (row.id, low) == (b + 4, b + 2)
        await until(lambda: hub.low == b + 4, what="the burned id to be given up")
        assert hub.mark is not None and hub.mark.given_up == 1
        await asyncio.sleep(0.2)
        assert not everything.queue, "nothing is delivered twice"
        assert json.loads(row.data) == {"seq": b + 4, "tenant": "acme", "changes": [{"event": "test", "id": b + 4}]}

        hub.unsubscribe(everything)
        hub.unsubscribe(mine)
        await until(lambda: hub.mark is None, what="the hub to stop polling")
        polls = hub.polls
        await asyncio.sleep(0.3)
        assert hub.polls == polls, "no subscriber, no polling"

    asyncio.run(main())


def test_hub_polls_once_per_round_whatever_the_number_of_subscribers(tenant, monkeypatch) -> None:
    calls = []
    real = eventhub.fetch_new

    def counting(*args: Any) -> list[EventRow]:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(eventhub, "fetch_new", counting)

    async def main() -> None:
        hub = EventHub(poll_seconds=0.1)
        subs = [QueueSubscription(tenant.pk) for _ in range(8)]
        for sub in subs:
            await hub.subscribe(sub)
        await ainsert(tenant.pk)
        for sub in subs:
            assert len(await drain(sub, 1)) == 1
        started, before = time.monotonic(), len(calls)
        await asyncio.sleep(1.0)
        elapsed = time.monotonic() - started
        assert len(calls) - before <= elapsed / 0.1 + 2, "one query per round, not one per subscriber"
        assert hub.polls <= len(calls) <= hub.polls + 1  # (+1: a query may be in flight)
        for sub in subs:
            hub.unsubscribe(sub)

    asyncio.run(main())


@pytest.mark.mariadb
def test_hub_with_real_concurrent_transactions_committing_out_of_order(tenant) -> None:
    """MariaDB: a transaction holding a lower id commits after a higher one; another rolls back."""
    inserted: list[int] = []
    ready, release = threading.Event(), threading.Event()

    class Rollback(Exception):
        pass

    def slow_transaction(commit: bool) -> None:
        from django.db import connection

        try:
            with transaction.atomic():
                inserted.append(Event.objects.create(tenant_id=tenant.pk, changes=[{"event": "slow"}]).pk)
                ready.set()
                release.wait(30)
                if not commit:
                    raise Rollback
        except Rollback:
            pass
        finally:
            connection.close()

    async def main() -> None:
        # Long enough that a loaded machine never gives up on the slow transaction before it commits.
        hub = EventHub(poll_seconds=0.05, gap_seconds=8)
        sub = QueueSubscription(None)
        await hub.subscribe(sub)
        for commit in (True, False):
            ready.clear()
            release.clear()
            inserted.clear()
            thread = threading.Thread(target=slow_transaction, args=(commit,))
            thread.start()
            await until(ready.is_set, what="the slow transaction to insert")
            [fast] = await ainsert(tenant.pk)
            slow = inserted[0]
            assert fast > slow
            [(row, low)] = await drain(sub, 1)
            assert row.id == fast and low < slow, "the uncommitted lower id holds the watermark back"
            release.set()
            await asyncio.to_thread(thread.join, 30)
            if commit:
                [(row, low)] = await drain(sub, 1)
                assert row.id == slow and low <= fast  # (older gaps — deleted rows — may still be awaited)
                await until(lambda f=fast: hub.low >= f, what="the watermark to pass both")  # type: ignore[misc]
            else:
                await until(lambda f=fast: hub.low >= f, what="the rolled-back id to be given up")  # type: ignore[misc]
                assert not sub.queue
        hub.unsubscribe(sub)

    asyncio.run(main())


def test_feed_replays_from_the_database_then_joins_the_live_rows_without_a_gap(tenant, other_tenant) -> None:
    async def main() -> None:
        hub = EventHub(poll_seconds=0.05, gap_seconds=1.0)
        ids = []
        for i in range(23):
            ids += await ainsert(tenant.pk if i % 3 else other_tenant.pk)
        last = ids[5]
        feed = Feed(hub, tenant.pk, last, batch=4)  # small replay batches
        await feed.open()
        for t in (tenant, other_tenant, tenant):     # live rows, arriving during the replay
            ids += await ainsert(t.pk)
        wanted = await database_sync_to_async(
            lambda: list(Event.objects.filter(tenant=tenant, id__gt=last).order_by("id").values_list("id", flat=True))
        )()
        assert len(wanted) == 13
        got: list[tuple[int, EventRow]] = []
        deadline = time.monotonic() + 20
        while {r.id for _, r in got} != set(wanted):
            assert time.monotonic() < deadline, f"got {[r.id for _, r in got]}, wanted {wanted}"
            got += await feed.get(timeout=0.2)
        assert [r.id for _, r in got] == wanted, "in order, once each, only the tenant's"
        positions = [at for at, _ in got]
        assert positions == sorted(positions) and last <= positions[0] and positions[-1] <= wanted[-1]
        # Gaps (the previous tests' deleted rows) are awaited at most GAP_SECONDS, then the watermark is the top.
        await until(lambda: feed.advance() == max(ids), timeout=20,
                    what="the watermark to reach the newest row")

        # A client that falls behind is replayed from the database: still no gap.
        assert feed.sub is not None
        feed.sub.limit = 3
        behind = [(await ainsert(tenant.pk))[0] for _ in range(10)]
        await until(lambda: feed.sub is not None and feed.sub.overflowed, what="the queue to overflow")
        caught: list[int] = []
        deadline = time.monotonic() + 20
        while not set(behind) <= set(caught):
            assert time.monotonic() < deadline, f"got {caught}, wanted {behind}"
            caught += [r.id for _, r in await feed.get(timeout=0.2)]
        assert caught == behind
        feed.close()

        # Without a Last-Event-ID: from now on, nothing older.
        fresh = Feed(hub, tenant.pk, None)
        await fresh.open()
        assert fresh.position <= max(ids + behind)
        [new] = await ainsert(tenant.pk)
        deadline = time.monotonic() + 20
        items: list[tuple[int, EventRow]] = []
        while not items:
            assert time.monotonic() < deadline
            items = await fresh.get(timeout=0.2)
        assert [r.id for _, r in items] == [new], "only what happened after the connect"
        fresh.close()
        await until(lambda: hub.mark is None, what="the hub to stop")

    asyncio.run(main())


# -- real servers -----------------------------------------------------------------------------------------

HEARTBEAT_SECONDS = 1


def request(port: int, path: str, headers: dict[str, str] | None = None, *, method: str = "GET",
            body: str | None = None, cookies: SimpleCookie | None = None) -> tuple[int, dict[str, str], bytes]:
    """One plain request; Set-Cookie headers land in ``cookies``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        if cookies is not None:
            for name, value in resp.getheaders():
                if name.lower() == "set-cookie":
                    cookies.load(value)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def log_in_through_daphne(port: int, username: str, password: str) -> str:
    """Log in with the admin's login form, served by daphne; return the session cookie."""
    jar: SimpleCookie = SimpleCookie()
    status, _, page = request(port, "/admin/login/", cookies=jar)
    assert status == 200, page[:500]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "the login form has a CSRF token"
    form = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token.group(1).decode(),
                      "next": "/admin/"})
    status, _, page = request(
        port, "/admin/login/", method="POST", body=form, cookies=jar,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={jar['csrftoken'].value}"},
    )
    assert status == 302, page[:500]
    return jar["sessionid"].value


@pytest.fixture
def daphne(worker_env: dict[str, str], tmp_path: Path) -> Iterator[DaphneServer]:
    server = DaphneServer(worker_env, tmp_path / "daphne.log", {
        "JOBS_SSE_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS), "JOBS_SSE_REVERIFY_SECONDS": "1",
        "JOBS_API_KEY_CACHE_SECONDS": "0",
    })
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@dataclass
class Message:
    id: int | None = None
    event: str | None = None
    data: str | None = None
    comments: list[str] = field(default_factory=list)
    at: float = 0.0

    def json(self) -> Any:
        return json.loads(self.data or "null")


class Stream:
    """A streaming HTTP/1.1 client over a raw socket: reads (chunked) SSE on a thread, never blocks a test."""

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.sock.settimeout(0.5)
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.messages: list[Message] = []
        self.ended = False
        self.error: BaseException | None = None
        self._closing = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _recv(self) -> bytes:
        while not self._closing:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise EOFError
            return data
        raise EOFError

    def _run(self) -> None:
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                buf += self._recv()
            head, buf = buf.split(b"\r\n\r\n", 1)
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            self.headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
            self.status = int(status_line.split()[1])
            text = ""
            chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
            while True:
                if chunked:
                    while b"\r\n" not in buf:
                        buf += self._recv()
                    size_line, buf = buf.split(b"\r\n", 1)
                    size = int(size_line.split(b";")[0], 16)
                    if size == 0:
                        break
                    while len(buf) < size + 2:
                        buf += self._recv()
                    data, buf = buf[:size], buf[size + 2:]
                else:
                    data, buf = buf + self._recv(), b""
                text += data.decode()
                while "\n\n" in text:
                    block, text = text.split("\n\n", 1)
                    self._parse(block)
        except EOFError:
            pass
        except BaseException as exc:
            self.error = exc
        finally:
            self.ended = True

    def _parse(self, block: str) -> None:
        msg = Message(at=time.monotonic())
        data = []
        for line in block.split("\n"):
            if line.startswith(":"):
                msg.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                msg.id = int(value)
            elif name == "event":
                msg.event = value
            elif name == "data":
                data.append(value)
        msg.data = "\n".join(data) if data else None
        with self._lock:
            self.messages.append(msg)

    def snapshot(self) -> list[Message]:
        with self._lock:
            return list(self.messages)

    def events(self, name: str = "tasks") -> list[Message]:
        return [m for m in self.snapshot() if m.event == name]

    def changes(self) -> list[tuple[int, str, dict[str, Any]]]:
        """(seq, tenant, change) for every change received."""
        out = []
        for m in self.events("tasks"):
            body = m.json()
            out += [(body["seq"], body["tenant"], c) for c in body["changes"]]
        return out

    def last_id(self) -> int:
        ids = [m.id for m in self.snapshot() if m.id is not None]
        assert ids, "no id: received"
        return ids[-1]

    def wait(self, predicate: Callable[["Stream"], Any], timeout: float = 60, what: str = "messages") -> Any:
        def check() -> Any:
            if self.error:
                raise self.error
            return predicate(self)

        return wait_for(check, timeout=timeout, interval=0.05, what=what)

    def close(self) -> None:
        self._closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(10)


@pytest.fixture
def streams() -> Iterator[Callable[..., Stream]]:
    opened: list[Stream] = []

    def open_stream(port: int, path: str, headers: dict[str, str] | None = None) -> Stream:
        s = Stream(port, path, headers)
        opened.append(s)
        s.wait(lambda s: s.status is not None, timeout=30, what=f"the response to {path}")
        return s

    yield open_stream
    for s in opened:
        s.close()


def events_of(stream: Stream, task_ids: set[int]) -> set[tuple[int, str]]:
    return {(c["task"], c["event"]) for _, _, c in stream.changes() if c["task"] in task_ids}


LIFECYCLE = ("task.created", "task.started", "task.completed")


def run_burst(workers: Any) -> None:
    proc = workers.start("--processes", "1", "--threads", "2", "--burst")
    assert proc.wait(timeout=120) == 0, workers.log(len(workers.procs) - 1)


def test_api_stream_live_then_resume_with_last_event_id(tenant, daphne, workers, streams) -> None:
    _, raw = keys.issue(tenant)
    auth = {"X-API-Key": raw}

    live = streams(daphne.port, "/api/sse/events", auth)
    assert live.status == 200
    assert live.headers["content-type"].startswith("text/event-stream")
    assert live.headers["cache-control"] == "no-cache"
    assert live.headers["x-accel-buffering"] == "no"
    live.wait(lambda s: any(m.id is not None for m in s.snapshot()), what="the opening id:")

    first = enqueue("noop", tenant=tenant)
    run_burst(workers)
    live.wait(lambda s: events_of(s, {first.pk}) >= {(first.pk, e) for e in LIFECYCLE}, what="the first task's events")
    tasks_messages = live.events("tasks")
    assert all(m.id is not None for m in tasks_messages), "every message carries an id:"
    ids = [m.id for m in live.snapshot() if m.id is not None]
    assert ids == sorted(ids), "the watermark never goes back"
    seen = {seq for seq, _, _ in live.changes()}
    last = live.last_id()
    live.close()

    # Missed while disconnected: five tasks, each created, started and completed.
    missed = [enqueue("noop", tenant=tenant) for _ in range(5)]
    run_burst(workers)
    assert Task.objects.filter(status=Status.COMPLETED).count() == 6
    missed_ids = {t.pk for t in missed}
    wanted = {(pk, e) for pk in missed_ids for e in LIFECYCLE}
    in_db = set(Event.objects.filter(tenant=tenant, id__gt=last).values_list("id", flat=True))

    for how in ("header", "query"):
        if how == "header":
            again = streams(daphne.port, "/api/sse/events", {**auth, "Last-Event-ID": str(last)})
        else:
            again = streams(daphne.port, f"/api/sse/events?last_event_id={last}", auth)
        assert again.status == 200
        again.wait(lambda s: events_of(s, missed_ids) >= wanted, what=f"the missed events (Last-Event-ID by {how})")
        received = {seq for seq, _, _ in again.changes()}
        assert received >= in_db, f"a gap: rows {sorted(in_db - received)} were not replayed"
        assert all(seq > last or seq in seen for seq in received), "only what was missed (or a known seq)"
        assert all(seq in seen for seq, _, c in again.changes() if c["task"] == first.pk), \
            "the first task's events only as duplicates of a known seq"
        counted = [(c["task"], c["event"]) for seq, _, c in again.changes() if seq not in seen]
        assert sorted(counted) == sorted(wanted), "each missed change exactly once"
        again.close()


def test_api_stream_auth_scope_and_heartbeat(tenant, other_tenant, daphne, streams) -> None:
    key_a, raw_a = keys.issue(tenant)
    _, raw_b = keys.issue(other_tenant)
    _, raw_op = keys.issue(other_tenant, operator=True)

    status, headers, body = request(daphne.port, "/api/sse/events")
    assert status == 401 and headers["content-type"] == "application/problem+json"
    assert json.loads(body) == {"type": "about:blank", "title": "Unauthorized", "status": 401,
                                "detail": "An API key is required."}
    status, _, body = request(daphne.port, "/api/sse/events", {"X-API-Key": "jek_nope_nope"})
    assert status == 401 and json.loads(body)["status"] == 401
    status, _, body = request(daphne.port, "/api/sse/events?all=true", {"X-API-Key": raw_a})
    assert status == 403
    assert json.loads(body)["type"].endswith("/operator-only")

    a = streams(daphne.port, "/api/sse/events", {"X-API-Key": raw_a})
    b = streams(daphne.port, "/api/sse/events", {"Authorization": f"Bearer {raw_b}"})
    op = streams(daphne.port, "/api/sse/events?all=true", {"X-API-Key": raw_op})
    assert a.status == b.status == op.status == 200
    for s in (a, b, op):
        s.wait(lambda s: any(m.id is not None for m in s.snapshot()), what="the opening id:")

    mine = enqueue("noop", tenant=tenant)
    theirs = enqueue("noop", tenant=other_tenant)  # committed after tenant A's: B sees it only later
    b.wait(lambda s: events_of(s, {theirs.pk}), what="tenant B's own event")
    a.wait(lambda s: events_of(s, {mine.pk}), what="tenant A's event")
    op.wait(lambda s: events_of(s, {mine.pk, theirs.pk}) == {(mine.pk, "task.created"), (theirs.pk, "task.created")},
            what="both tenants' events on the operator's all=true stream")
    assert {t for _, t, _ in b.changes()} == {"globex"}, "tenant B never sees tenant A's events"
    assert {t for _, t, _ in a.changes()} == {"acme"}

    b.wait(lambda s: any("heartbeat" in m.comments for m in s.snapshot()), timeout=30, what="a heartbeat comment")
    # The watermark advances on a heartbeat even when the rows were another tenant's.
    b.wait(lambda s: s.last_id() >= max(Event.objects.values_list("id", flat=True)), timeout=30,
           what="the watermark to pass the other tenant's rows")

    # A revoked key's open stream ends (checked on a heartbeat); reconnecting gets a 401.
    keys.revoke(key_a)
    a.wait(lambda s: s.ended, timeout=30, what="the revoked key's stream to end")
    assert request(daphne.port, "/api/sse/events", {"X-API-Key": raw_a})[0] == 401

    for s in (a, b, op):
        s.close()
    wait_for(lambda: "stopped polling" in daphne.log(), timeout=30, what="the hub to stop once every client left")


def test_console_stream_is_for_staff_and_coalesces(tenant, daphne, workers, streams) -> None:
    status, _, _ = request(daphne.port, "/console/events")
    assert status in (302, 403)
    clerk = Client()
    clerk.force_login(User.objects.create_user("clerk"))
    status, _, _ = request(daphne.port, "/console/events", {"Cookie": f"sessionid={clerk.cookies['sessionid'].value}"})
    assert status == 403, "not staff"

    # A real login through daphne (Django's views behind the same router), then the stream with its cookie.
    password = secrets.token_urlsafe(12)
    boss = User.objects.create_user("boss", password=password, is_staff=True)
    boss.user_permissions.add(Permission.objects.get(codename="view_task", content_type__app_label="jobs"))
    session = log_in_through_daphne(daphne.port, "boss", password)
    console = streams(daphne.port, "/console/events", {"Cookie": f"sessionid={session}"})
    assert console.status == 200
    assert console.headers["content-type"].startswith("text/event-stream")
    console.wait(lambda s: {"counters", "workers", "chart"} <= {m.event for m in s.snapshot()},
                 what="the first snapshots")

    enqueue_many([{"type": "noop"}] * 500, tenant=tenant)
    started = time.monotonic()
    proc = workers.start("--processes", "1", "--threads", "4", "--burst")
    time.sleep(3.5)
    assert proc.wait(timeout=120) == 0, workers.log()
    wait_for(lambda: Task.objects.filter(status=Status.COMPLETED).count() == 500, what="the 500 tasks")
    time.sleep(2.5)  # let the last coalesced messages out
    ended = time.monotonic()
    during = [m for m in console.snapshot() if m.at >= started]
    duration = ended - started
    counters = [m for m in during if m.event == "counters"]
    feeds = [m for m in during if m.event == "feed"]
    first_three_seconds = [m for m in counters if m.at < started + 3]
    assert len(first_three_seconds) <= 4, "at most one counters message a second"
    assert 1 <= len(counters) <= duration + 2
    assert 1 <= len(feeds) <= duration + 2
    assert len(during) < 100, f"{len(during)} messages for 1,500 changes: not coalesced"
    for m in feeds:
        if m.data and m.data.startswith("{"):  # the JSON fallback (dashboard.live missing)
            assert len(m.json()["changes"]) <= 20
    console.close()
