"""The OpenAPI schema itself: spectacular validates it, every operation but health needs the key, docs are local."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

from tests.support import ROOT
from tests.support.schema import METHODS, UNSECURED


def test_spectacular_validates_the_schema_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "engine_site.settings"}
    proc = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--fail-on-warn", "--validate", "--format", "openapi-json",
         "--file", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"spectacular failed:\n{proc.stdout}\n{proc.stderr}"
    document = json.loads(out.read_text())
    assert document["paths"]

    assert document["components"]["securitySchemes"]["ApiKeyAuth"] | {"description": ""} == {
        "type": "apiKey", "in": "header", "name": "X-API-Key", "description": "",
    }
    default_security = document.get("security", [])
    seen = set()
    for path, item in document["paths"].items():
        assert path.startswith("/api/"), path
        assert not path.startswith(("/api/schema", "/api/docs")), f"{path} should not be in the schema"
        for method, operation in item.items():
            if method not in METHODS:
                continue
            seen.add(path)
            security = operation.get("security", default_security)
            if path in UNSECURED:
                assert security in ([], [{}]), f"{method.upper()} {path} should not need a key"
            else:
                assert security == [{"ApiKeyAuth": []}], f"{method.upper()} {path} does not require the API key"
    assert seen >= UNSECURED
    assert {"/api/tasks", "/api/tasks/{id}", "/api/tasks/batch", "/api/analytics", "/api/workers"} <= seen


def test_docs_serve_swagger_ui_from_the_sidecar(client: Client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert 'id="swagger-ui"' in html and "SwaggerUIBundle(" in html
    assert 'url: "/api/schema/"' in html
    assert "cdn.jsdelivr" not in html and "unpkg" not in html
    sidecar = f"{settings.STATIC_URL}drf_spectacular_sidecar/swagger-ui-dist/"  # STATIC_URL is absolute here
    assert sidecar.startswith("/"), sidecar
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith(sidecar) for url in assets), assets
    for name in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert sidecar + name in assets, f"{name} is not served from the sidecar's static files"
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{name}"), f"{name} is not installed"

    served = client.get("/api/schema/?format=json")
    assert served.status_code == 200
    assert json.loads(served.content)["info"]["title"] == "Job engine API"
