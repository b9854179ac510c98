"""Stopping and restarting a topology's MariaDB and Redis (the chaos run's server faults)."""

from __future__ import annotations

import time
from typing import Any

from .. import procs, servers
from .client import poll


class ServerFaults:
    """Mixed into ``Topology``: its servers (``_servers``), work directory and ``query``."""

    workdir: Any

    @property
    def _servers(self) -> servers.Servers:
        raise NotImplementedError

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def stop_mariadb(self) -> None:
        procs.stop(self._servers.processes["mariadb"], timeout=120)

    def start_mariadb(self) -> None:
        servers.relaunch(self._servers, "mariadb", self.workdir)
        # Listening is not accepting logins yet: wait for a query to succeed.
        poll(lambda: self.query("SELECT 1") == [(1,)], 60, "MariaDB to accept queries")

    def restart_mariadb(self) -> tuple[float, float]:
        """Stop MariaDB (SIGTERM, wait) and start it again on the same datadir and port; (down, up) times."""
        down = time.time()
        self.stop_mariadb()
        self.start_mariadb()
        return down, time.time()

    def stop_redis(self) -> None:
        procs.stop(self._servers.processes["redis"], timeout=30)

    def start_redis(self) -> None:
        servers.relaunch(self._servers, "redis", self.workdir)
