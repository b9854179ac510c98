"""The production topology on one machine, without Docker, for tests and demos.

MariaDB and Redis (started by ``deploy/servers.py`` on a temporary directory and free
ports), Debian's nginx (``/usr/sbin/nginx`` with a config generated from
``deploy/nginx.conf`` into a temporary prefix), N web instances (``manage.py serve``,
``INSTANCE_ID=web1…``) and N worker supervisors (``manage.py runworkers``,
``INSTANCE_ID=worker1…``), all on 127.0.0.1. Every engine process runs
``engine_site.settings`` the way production does (``PRODUCTION=1``, JSON logs), each in
its own process group, so "kill -9 an instance" is ``os.killpg(pgid, SIGKILL)``.

From Python::

    with Topology(timings=FAST_TIMINGS) as topo:
        status, _, body = topo.api("POST", "/api/tasks", {"type": "noop"})
        topo.kill_worker(3)

From a shell: ``python -m deploy.topology`` (Ctrl-C stops everything).
``Topology.describe()`` says where everything is.
"""

from .client import http_request
from .cluster import Topology
from .config import FAST_TIMINGS, TopologyError
from .instances import Process

__all__ = ["FAST_TIMINGS", "Process", "Topology", "TopologyError", "http_request"]
