"""Deployment: the compose file, production settings (`check --deploy`), and a production instance."""

import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.topology import http_request
from tests.support import ROOT
from tests.support.production import METRICS_TOKEN, manage, production_env, production_instance

DOCKER_COMPOSE = "/usr/bin/docker-compose"
ENGINE_SERVICES = {"web1", "web2", "web3", "worker1", "worker2", "worker3"}
#: What docker-compose.yml refuses to start without (it has no default secrets).
COMPOSE_SECRETS = ("SECRET_KEY", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD", "REDIS_PASSWORD", "METRICS_TOKEN")


# -- docker-compose.yml ---------------------------------------------------------------------------------


def compose_config(**values: str) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` with exactly these of COMPOSE_SECRETS set."""
    if not Path(DOCKER_COMPOSE).exists():
        pytest.fail(f"{DOCKER_COMPOSE} is missing: `make test` installs it (scripts/setup-system.sh test)",
                    pytrace=False)
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}
    return subprocess.run([DOCKER_COMPOSE, "-f", str(ROOT / "docker-compose.yml"), "config"], cwd=ROOT,
                          env={**env, **values}, capture_output=True, text=True, timeout=120, check=False)


def test_docker_compose_config_is_valid_and_describes_the_topology() -> None:
    given = {name: secrets.token_urlsafe(24) for name in COMPOSE_SECRETS}
    done = compose_config(**given)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    services = config["services"]
    assert {"mysql", "redis", "migrate", "nginx", *ENGINE_SERVICES} <= set(services)

    for name in ENGINE_SERVICES:
        environment = services[name]["environment"]
        assert environment["INSTANCE_ID"] == name, "each instance has its own id"
        assert environment["PRODUCTION"] == "1"
        assert environment["LOG_FORMAT"] == "json"
        assert environment["SECRET_KEY"] == given["SECRET_KEY"], "the SECRET_KEY of the environment"
        assert environment["METRICS_TOKEN"] == given["METRICS_TOKEN"]
        assert environment["DATABASE_URL"] == f"mysql://engine:{given['MYSQL_PASSWORD']}@mysql:3306/engine"
        assert environment["REDIS_URL"] == f"redis://:{given['REDIS_PASSWORD']}@redis:6379/0"
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("worker1", "worker2", "worker3"):
        assert services[name]["command"][:3] == ["python", "manage.py", "runworkers"]
    assert services["migrate"]["command"][:3] == ["python", "manage.py", "migrate"]
    assert services["mysql"]["environment"]["MYSQL_PASSWORD"] == given["MYSQL_PASSWORD"]
    assert services["mysql"]["environment"]["MYSQL_ROOT_PASSWORD"] == given["MYSQL_ROOT_PASSWORD"]
    assert "--requirepass" in " ".join(services["redis"]["command"])
    assert services["redis"]["environment"]["REDIS_PASSWORD"] == given["REDIS_PASSWORD"]

    # nginx mounts deploy/nginx.conf, whose upstream is exactly the web services.
    assert any(str(v).startswith(str(ROOT / "deploy" / "nginx.conf")) or "deploy/nginx.conf" in str(v)
               for v in services["nginx"]["volumes"])
    upstream = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", (ROOT / "deploy" / "nginx.conf").read_text(), re.M)
    assert {host for host, _ in upstream} == {"web1", "web2", "web3"}
    assert {port for _, port in upstream} == {"8000"}


# -- production settings ----------------------------------------------------------------------------------


def test_check_deploy_is_clean_under_production_settings(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    done = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout

    shown = manage(env, "shell", "-c", "from django.conf import settings as s; import json; print(json.dumps("
                   "[s.DEBUG, s.LOGGING['handlers']['console']['formatter'], s.SECURE_SSL_REDIRECT]))")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout.strip().splitlines()[-1]) == [False, "json", True]


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    done = manage(env, "check")
    assert done.returncode != 0
    assert "SECRET_KEY must be set" in done.stderr


@pytest.fixture(scope="module")
def production_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One daphne instance exactly as production runs it (PRODUCTION=1, JSON logs), on its own SQLite file."""
    tmp = tmp_path_factory.mktemp("production")
    log = tmp / "daphne.log"
    with production_instance(production_env(tmp, INSTANCE_ID="web-smoke", LOG_LEVEL="INFO"), log) as port:
        yield {"port": port, "log": log}


def request(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return http_request(port, "GET", path, headers=headers, timeout=15)


def test_a_production_instance_serves_metrics_static_files_and_json_logs(production_server: dict[str, Any]) -> None:
    port = production_server["port"]
    behind_tls = {"X-Forwarded-Proto": "https"}  # what a TLS-terminating proxy sends

    scrape = {**behind_tls, "Authorization": f"Bearer {METRICS_TOKEN}"}
    status, headers, body = request(port, "/metrics", scrape)
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE jobs_queue_depth gauge" in body.decode()
    assert request(port, "/metrics", behind_tls)[0] == 401
    # Plain HTTP is redirected to HTTPS, except the health checks load balancers use.
    status, headers, _ = request(port, "/metrics")
    assert status == 301 and headers["location"].startswith("https://")
    assert request(port, "/api/health")[0] == 200

    status, headers, css = request(port, "/static/dashboard/console.css", behind_tls)
    assert status == 200 and headers["content-type"].startswith("text/css") and css
    assert "max-age" in headers.get("cache-control", ""), "served by WhiteNoise"

    status, _, page = request(port, "/no/such/page", behind_tls)
    assert status == 404 and b"URLconf" not in page, "DEBUG is off: no technical 404 page"

    entries = [json.loads(line) for line in production_server["log"].read_text().splitlines()
               if line.startswith("{")]
    assert entries, "JSON log lines"
    assert {e["instance"] for e in entries} == {"web-smoke"}
    assert {"time", "level", "logger", "message", "instance", "pid"} <= set(entries[0])
