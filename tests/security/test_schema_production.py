"""Schemathesis against a production instance (PRODUCTION=1, demo types off) with a tenant key.

The in-process conformance run (tests/jobs/api/test_schema_conformance.py) uses the test
settings; this one drives a daphne started exactly as production starts it, over HTTP, so
production-only behaviour (bounded bodies and reads, type access, no demo types, TLS
redirects behind a proxy) is held to the same promise: zero 5xx, nothing off-schema.
"""

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy import procs
from deploy.topology import http_request
from tests.support import ROOT
from tests.support.waiting import wait_for

# Once, in the MariaDB pass: the instance has its own SQLite file, so the pass's backend changes nothing.
pytestmark = [pytest.mark.slow, pytest.mark.mariadb]

CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_schema_conformance", "response_headers_conformance",
])


def production_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "SQLITE_PATH", "TEST_DB_SOCKET", "TEST_DB_NAME", "DEBUG"}
           and not k.startswith("JOBS_")}
    env.update({"DJANGO_SETTINGS_MODULE": "engine_site.settings", "PRODUCTION": "1",
                "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1",
                "VAR_DIR": str(tmp / "var"), "PYTHONPATH": str(ROOT), "INSTANCE_ID": "schema-prod"})
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("schema-production")
    env = production_env(tmp)
    manage(env, "migrate", "--noinput")
    manage(env, "create_tenant", "acme")
    key = json.loads(manage(env, "create_api_key", "acme", "--json"))["key"]
    port = procs.free_port()
    log = tmp / "daphne.log"
    proc = procs.daphne(port, env=env, log=log)

    def up() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"daphne exited with {proc.returncode}:\n{log.read_text()}")
        try:
            return http_request(port, "GET", "/api/health", timeout=10)[0] == 200
        except OSError:
            return False

    try:
        wait_for(up, timeout=90, interval=0.2, what="the production instance")
        yield {"port": port, "key": key, "log": log}
    finally:
        procs.stop(proc, timeout=15)


def test_schemathesis_finds_no_server_error_and_nothing_off_schema_in_production(
        production: dict[str, Any], tmp_path: Path) -> None:
    port = production["port"]
    done = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", f"http://127.0.0.1:{port}/api/schema/?format=json",
         "--url", f"http://127.0.0.1:{port}",
         "-H", f"X-API-Key: {production['key']}", "-H", "X-Forwarded-Proto: https",
         "--checks", CHECKS, "--max-examples", "15", "--seed", "12", "--generation-deterministic",
         "--suppress-health-check", "all", "--no-color", "--workers", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert "passed" in done.stdout.lower(), report
    served = production["log"].read_text()
    assert not re.search(r'^\S+ - - \[[^]]+\] "[^"]*" 5\d\d ', served, re.MULTILINE), "a 5xx in the server's log"
