"""What ``Topology.describe()`` prints: where every part of a running topology is."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cluster import Topology


def describe(topo: Topology) -> str:
    url = topo.url
    lines = [f"nginx          {url}/  (console {url}/, API {url}/api/, docs {url}/api/docs/)"]
    for web in topo.webs:
        lines.append(f"{web.name:<14} http://127.0.0.1:{web.port}/  pid {web.pid}  log {web.log}")
    lines.append(f"metrics        http://127.0.0.1:<web port>/metrics  Authorization: Bearer {topo.metrics_token}")
    for worker in topo.workers:
        lines.append(f"{worker.name:<14} runworkers --processes {topo.processes} --threads {topo.threads}"
                     f"  pid {worker.pid} (process group)  log {worker.log}")
    pid = topo.servers.pid if topo.servers else lambda name: "?"
    lines += [
        f"MariaDB        {topo.database_url}  pid {pid('mariadb')}",
        f"Redis          {topo.redis_url}  pid {pid('redis')}",
        f"tenant         {topo.tenant}  operator API key {topo.api_key}",
        f"try            curl -H 'X-API-Key: {topo.api_key}' -d '{{\"type\": \"noop\"}}'"
        f" -H 'Content-Type: application/json' {url}/api/tasks",
        f"nginx config   {topo.nginx_dir / 'nginx.conf'}  (logs {topo.nginx_dir})",
        f"environment    DATABASE_URL, REDIS_URL, PRODUCTION=1, LOG_FORMAT=json, VAR_DIR={topo.env.get('VAR_DIR')}"
        + "".join(f", {k}={v}" for k, v in sorted(topo.extra_env.items())),
        f"work dir       {topo.workdir}{' (kept)' if topo.keep_workdir else ' (removed on stop)'}",
    ]
    return "\n".join(lines)
