"""A gunicorn worker that serves the engine's ASGI app with daphne: ``manage.py serve``'s processes.

gunicorn's master gives the web tier what daphne alone lacks: N processes on one port,
a crashed or hung worker replaced, ``HUP`` to reload gracefully (new workers first, then the
old ones stopped), ``TERM`` to stop gracefully within ``--graceful-timeout``. Inside each
worker daphne (Twisted) serves the app, so the event streams keep daphne's flow control
(``jobs.streams.backpressure``) and Django's views run on persistent threads
(``engine_site.threads``).

Stopping (``TERM``, or the master's reload): the worker stops accepting, lets the requests in
flight answer (up to the graceful timeout), then stops the reactor, which ends its event
streams; their clients reconnect with ``Last-Event-ID`` to a live worker and miss nothing.
gunicorn's reload stops the old workers as soon as it has started the new ones, which take
seconds to import Django: an old worker stopped by a reload therefore keeps accepting until a
new one listens (or the graceful timeout passes), so a reload never leaves the port unserved.
The master marks a reload (``on_reload``, ``engine_site.webconf``) and each worker marks that it
listens, as files in ``$ENGINE_WEB_STATE`` (a directory ``serve`` makes).

The master must not import daphne (it installs Twisted's reactor at import, which
must happen in the worker, after the fork): nothing here does until ``run``.
"""

import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from gunicorn.workers.base import Worker

#: How often the worker tells the master it is alive and checks whether it should stop, seconds.
TICK_SECONDS = 0.25
#: The directory of reload and readiness marks, shared by the master and its workers.
STATE_ENV = "ENGINE_WEB_STATE"


def _state() -> Path | None:
    # Process plumbing, not configuration: the master (which never loads Django settings) and its
    # workers share this directory, named by serve in their environment.
    raw = os.environ.get(STATE_ENV)
    return Path(raw) if raw else None


def mark_reload(server: Any) -> None:
    """gunicorn's ``on_reload`` hook (in the master): note when this reload began."""
    state = _state()
    if state is not None:
        (state / "reload").write_text(str(time.time()))


def _listening_mark(pid: int) -> Path | None:
    """The file saying since when worker ``pid`` listens (None: not under ``serve``)."""
    state = _state()
    return state / f"listening-{pid}" if state is not None else None


def _successor_listening(since: float) -> bool:
    """Whether a worker started listening after ``since`` (a reload's start)."""
    state = _state()
    if state is None:
        return True
    for mark in state.glob("listening-*"):
        try:
            if float(mark.read_text() or 0) > since:
                return True
        except (OSError, ValueError):
            continue  # a mark being written or removed
    return False


def _reload_since(started: float) -> float | None:
    """When the reload that is stopping this worker began; None when the stop is not a reload."""
    state = _state()
    try:
        began = float((state / "reload").read_text()) if state is not None else None
    except (OSError, ValueError):
        return None
    return began if began is not None and began >= started else None


def endpoint(sock: Any) -> str:
    """The Twisted endpoint adopting one of the master's listening sockets (daphne's ``fd`` parser: IPv4 only)."""
    if sock.sock.family != socket.AF_INET:
        raise RuntimeError("manage.py serve listens on IPv4 addresses only (daphne adopts AF_INET sockets)")
    return f"fd:fileno={sock.fileno()}"


def _lean_requests(server: Any) -> None:
    """Requests without Twisted's parse of POSTed forms into ``request.args``, which daphne never reads.

    Twisted parses the Content-Type of every POST with the ``email`` package to find form
    bodies: measured, a fifth of the event loop's time under single ``POST /api/tasks``. The
    app gets the raw body either way. Called as the reactor starts, before any connection.
    """
    from daphne.http_protocol import WebRequest
    from twisted.web.iweb import INonQueuedRequestFactory
    from zope.interface import provider

    @provider(INonQueuedRequestFactory)
    def request(channel: Any) -> Any:
        return WebRequest(channel, parsePOSTFormSubmission=False)

    build = server.http_factory.buildProtocol

    def build_protocol(addr: Any) -> Any:
        protocol = build(addr)
        if protocol is not None:
            protocol.requestFactory = request
        return protocol

    server.http_factory.buildProtocol = build_protocol


class DaphneWorker(Worker):
    """One web process: daphne on the master's sockets, stopped gracefully when ``alive`` turns False."""

    def run(self) -> None:
        from daphne.access import AccessLogGenerator
        from daphne.server import Server  # installs the asyncio reactor: after the fork, in this worker
        from twisted.internet import reactor, task

        from engine_site.threads import in_flight
        from jobs.api import wait

        worker = self
        ports: list[Any] = []
        started = time.time()

        class _Server(Server):
            def listen_success(self, port: Any) -> None:
                ports.append(port)  # kept so that a graceful stop can close them
                super().listen_success(port)
                if (mark := _listening_mark(worker.pid)) is not None:
                    mark.write_text(str(time.time()))

        server = _Server(
            application=self.wsgi,
            endpoints=[endpoint(s) for s in self.sockets],
            signal_handlers=False,  # gunicorn's own handlers (installed by init_signals) decide
            verbosity=0,
            # One line per request on stdout, as daphne's own command writes them.
            action_logger=AccessLogGenerator(sys.stdout),
            # No proxy headers here: the app reads X-Forwarded-* itself (engine_site.clientip, settings).
            application_close_timeout=self.cfg.graceful_timeout,
        )
        stopping: dict[str, float] = {}

        def tick() -> None:
            worker.notify()
            if worker.alive and os.getppid() != worker.ppid:
                worker.log.info("Parent changed, shutting down: %s", worker)
                worker.alive = False
            if worker.alive:
                return
            now = time.monotonic()
            if "deadline" not in stopping:
                stopping["deadline"] = now + worker.cfg.graceful_timeout
                stopping["reload"] = _reload_since(started) or 0.0
            if ports and (not stopping["reload"] or _successor_listening(stopping["reload"])
                          or now >= stopping["deadline"]):
                for port in ports:
                    port.stopListening()  # this process only: the master's socket stays open for others
                ports.clear()
                # Requests holding ?wait= answer now with the task as it is, rather than be cut off.
                wait.answer_now()
            if not ports and ((in_flight() == 0 and wait.waiting() == 0) or now >= stopping["deadline"]):
                reactor.stop()  # type: ignore[misc]  # Twisted's reactor is a module-level instance

        reactor.callWhenRunning(_lean_requests, server)
        reactor.callWhenRunning(task.LoopingCall(tick).start, TICK_SECONDS)
        try:
            server.run()
        finally:
            if (mark := _listening_mark(worker.pid)) is not None:
                mark.unlink(missing_ok=True)
