"""Production defaults: /metrics behind its token, /api/workers without fleet details, no default secrets, headers.

REVIEW §5: M1 and L2, L17 (metrics), L8 (worker metadata), M11 (secrets), L13 (upload size),
L14 (HSTS opt-in, a CSP).
"""

import secrets
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from engine_site import settings as site_settings
from jobs.models import Task, WorkerProcess
from jobs.services import metrics
from tests.jobs.services.test_metrics import SAMPLE
from tests.support.api import Caller
from tests.support.browser import TIMEOUT_MS, BrowserWatch, ConsoleServer, Page, expect
from tests.support.builders import make_task
from tests.support.production import manage, production_env
from tests.system.conftest import browser, browser_page, console_server  # noqa: F401  (fixtures)
from tests.system.test_deploy import COMPOSE_SECRETS, compose_config

TOKEN = "scrape-token-for-tests"  # noqa: S105


# -- /metrics ---------------------------------------------------------------------------------------------


@pytest.fixture
def production(settings: Any) -> Any:
    """The flag the metrics view reads (django.conf.settings.PRODUCTION), on."""
    settings.PRODUCTION = True
    settings.METRICS_TOKEN = ""
    return settings


@pytest.mark.django_db
def test_production_serves_metrics_only_with_the_token_and_the_deploy_check_wants_one(production: Any) -> None:
    response = Client().get("/metrics", headers={"Authorization": "Bearer "})
    assert response.status_code == 404
    assert b"jobs_" not in response.content
    (warning,) = metrics.check_metrics_token()
    assert warning.id == "jobs.W001" and "METRICS_TOKEN" in warning.msg

    production.METRICS_TOKEN = TOKEN
    assert metrics.check_metrics_token() == []
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and b"# TYPE jobs_queue_depth gauge" in response.content

    production.PRODUCTION, production.METRICS_TOKEN = False, ""
    assert Client().get("/metrics").status_code == 200, "outside production it stays open without a token"


@pytest.mark.django_db
@pytest.mark.parametrize("sent", ["Bearer é", "Bearer \u00ff" * 3, "é"])
def test_a_non_ascii_authorization_header_is_a_401_not_a_500(settings: Any, sent: str) -> None:
    settings.METRICS_TOKEN = TOKEN
    # The header as a server hands it over (latin-1 decoded bytes).
    assert Client(raise_request_exception=False).get("/metrics", headers={"Authorization": sent}).status_code == 401


@pytest.mark.django_db
def test_a_newline_in_a_label_value_is_escaped(settings: Any, api: Caller) -> None:
    settings.METRICS_TOKEN = ""
    task = make_task(api.tenant, "noop")
    # Not a registered type (none has these characters today): the row as a future type could name it.
    Task.objects.filter(pk=task.pk).update(type='line\nbreak "quoted" back\\slash')
    text = Client().get("/metrics").content.decode()
    for line in text.splitlines():
        assert line.startswith("# ") or SAMPLE.match(line), f"not a Prometheus sample: {line!r}"
    assert 'type="line\\nbreak \\"quoted\\" back\\\\slash"} 1' in text


# -- /api/workers ------------------------------------------------------------------------------------------


def fleet(api: Caller, other_api: Caller) -> tuple[Task, Task]:
    """A live process running one task of each tenant, with names nobody but an operator should see."""
    mine, theirs = make_task(api.tenant, "noop", status="running"), make_task(other_api.tenant, "sleep",
                                                                               status="running")
    started = timezone.now().isoformat()
    WorkerProcess.objects.create(
        id="db-host-7:4242:abc", instance="inst-east-9", hostname="db-host-7", pid=4242,
        queues="globex-private,default", threads=3, last_heartbeat=timezone.now(), slots=[
            {"slot": 0, "task_id": mine.pk, "type": mine.type, "tenant_id": mine.tenant_id, "started_at": started},
            {"slot": 1, "task_id": theirs.pk, "type": theirs.type, "tenant_id": theirs.tenant_id,
             "started_at": started},
            {"slot": 2, "task_id": None, "type": None, "tenant_id": None, "started_at": None},
        ])
    return mine, theirs


#: What names the fleet or another tenant's work; none of it may reach a tenant key.
FLEET_NAMES = ("db-host-7", "inst-east-9", "globex", "sleep")


def test_a_tenant_key_sees_only_its_own_running_tasks(api: Caller, other_api: Caller) -> None:
    mine, _ = fleet(api, other_api)
    response = api.get("/api/workers")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["running"], "no processes: no host, pid, instance or queue"
    (run,) = body["running"]
    assert set(run) == {"task_id", "type", "tenant", "started_at", "running_ms"}
    assert (run["task_id"], run["type"], run["tenant"]) == (mine.pk, "noop", "acme")
    raw = response.content.decode()
    for name in FLEET_NAMES:
        assert name not in raw, name


def test_an_operator_key_without_all_sees_no_other_tenant(operator_api: Caller, api: Caller,
                                                          other_api: Caller) -> None:
    mine, theirs = fleet(api, other_api)
    body = operator_api.get("/api/workers").json()
    assert body == {"running": []}, "its own tenant (ops) runs nothing"
    everything = operator_api.get("/api/workers", {"all": "true"}).json()
    assert {r["task_id"] for r in everything["running"]} == {mine.pk, theirs.pk}
    (process,) = everything["processes"]
    assert (process["hostname"], process["pid"], process["instance"]) == ("db-host-7", 4242, "inst-east-9")


# -- secrets -----------------------------------------------------------------------------------------------


def test_compose_without_a_secret_key_fails_naming_it() -> None:
    others = {name: secrets.token_urlsafe(24) for name in COMPOSE_SECRETS if name != "SECRET_KEY"}
    done = compose_config(**others)
    assert done.returncode != 0
    assert "set SECRET_KEY" in done.stderr
    for name in others:  # every one is required, each by name
        missing = compose_config(**{k: v for k, v in others.items() if k != name},
                                 SECRET_KEY=secrets.token_urlsafe(50))
        assert missing.returncode != 0 and f"set {name}" in missing.stderr, name


@pytest.mark.parametrize("key", [
    site_settings.EMBEDDED_SECRET_KEY,
    "change-me-in-production-this-is-not-a-secret-0123456789",  # the old compose default
    "changeme", "secret", "django-insecure-" + "x7#k2!" * 10, "CHANGEME-please-0123456789-0123456789",
    # A random key too short to be one (22 characters): fixed, so every collection (each xdist worker) agrees.
    "a-placeholder-key-that-is-long-enough-0123456789", "Qm3v-Xr8kT2pLw9ZbN4cYd",
])
def test_known_placeholder_and_short_keys_are_refused(key: str) -> None:
    assert site_settings.secret_key_problem(key)


def test_a_random_key_is_accepted() -> None:
    assert site_settings.secret_key_problem(secrets.token_urlsafe(50)) is None


def test_production_refuses_to_start_with_a_placeholder_key(tmp_path: Path) -> None:
    old_compose_default = "change-me-in-production-this-is-not-a-secret-0123456789"
    done = manage(production_env(tmp_path, SECRET_KEY=old_compose_default), "check")
    assert done.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is a known placeholder" in done.stderr


def test_hsts_subdomains_and_preload_are_opt_in(tmp_path: Path) -> None:
    show = ("from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS,"
            " s.SECURE_HSTS_PRELOAD)")
    default = manage(production_env(tmp_path), "shell", "-c", show)
    assert default.stdout.splitlines()[-1].split() == ["31536000", "False", "False"], default.stderr
    opted = manage(production_env(tmp_path, SECURE_HSTS_INCLUDE_SUBDOMAINS="1", SECURE_HSTS_PRELOAD="1"),
                   "shell", "-c", show)
    assert opted.stdout.splitlines()[-1].split() == ["31536000", "True", "True"], opted.stderr


# -- request bodies and headers ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_form_body_over_django_s_default_size_is_refused_before_login() -> None:
    body = {"username": "x", "password": "y" * (3 * 1024 * 1024)}  # 3 MB: over the 2.5 MB default
    assert Client().post("/login/", body).status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login/", "/", "/tasks/", "/admin/", "/api/docs/"])
def test_pages_carry_a_content_security_policy(path: str) -> None:
    user = User.objects.create_superuser("csp", password="csp-pw-12345")  # noqa: S106
    client = Client()
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200, path
    policy = dict(d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"].split()[0] == "'self'" and "unsafe" not in policy["script-src"]
    assert "unsafe" not in policy["style-src"]
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"


# -- in a browser ------------------------------------------------------------------------------------------

VIOLATIONS = """() => window.__cspViolations || []"""
RECORD_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) => {
  (window.__cspViolations = window.__cspViolations || []).push(`${e.violatedDirective} ${e.blockedURI}`);
});"""


@pytest.mark.django_db(transaction=True)
def test_no_page_of_the_console_admin_or_api_docs_violates_the_policy(
        console_server: ConsoleServer, browser_page: tuple[Page, BrowserWatch]) -> None:  # noqa: F811
    page, watch = browser_page
    page.add_init_script(RECORD_VIOLATIONS)
    User.objects.create_superuser("csp-admin", password="csp-console-pw-1")  # noqa: S106
    base = console_server.url
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill("csp-admin")
    page.get_by_label("Password").fill("csp-console-pw-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("h1")).to_have_text("Overview", timeout=TIMEOUT_MS)
    # The overview's live panels came in over SSE and htmx swapped them in.
    expect(page.locator("[data-live-status]")).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    seen: dict[str, list[str]] = {"/": page.evaluate(VIOLATIONS)}
    for path in ("/queues/", "/limits/", "/tasks/", "/dead-letter/", "/analytics/", "/types/", "/tenants/",
                 "/admin/", "/api/docs/"):
        response = page.goto(f"{base}{path}")
        assert response is not None and "script-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_load_state("networkidle" if path == "/api/docs/" else "load")
        seen[path] = page.evaluate(VIOLATIONS)
    expect(page.locator(".swagger-ui .info")).to_be_visible(timeout=TIMEOUT_MS)  # the docs' scripts ran
    assert {p: v for p, v in seen.items() if v} == {}
    csp_errors = [e for e in watch.console_errors if "Content Security Policy" in e]
    assert csp_errors == []
