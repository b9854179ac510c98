"""Schemathesis against a production instance (PRODUCTION=1, demo types off) with a tenant key.

The in-process conformance run (tests/jobs/api/test_schema_conformance.py) uses the test
settings; this one drives a daphne started exactly as production starts it, over HTTP, so
production-only behaviour (bounded bodies and reads, type access, no demo types, TLS
redirects behind a proxy) is held to the same promise: zero 5xx, nothing off-schema.
"""

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.production import manage, production_env, production_instance

# Once, in the MariaDB pass: the instance has its own SQLite file, so the pass's backend changes nothing.
pytestmark = [pytest.mark.slow, pytest.mark.mariadb]

CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_schema_conformance", "response_headers_conformance",
])


def checked(env: dict[str, str], *args: str) -> str:
    done = manage(env, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("schema-production")
    env = production_env(tmp, INSTANCE_ID="schema-prod")
    log = tmp / "daphne.log"
    with production_instance(env, log) as port:
        checked(env, "create_tenant", "acme")
        key = json.loads(checked(env, "create_api_key", "acme", "--json"))["key"]
        yield {"port": port, "key": key, "log": log}


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
