"""The API's OpenAPI schema, loaded once through the real WSGI application, for the schema tests.

* ``manage.py spectacular --fail-on-warn --validate`` succeeds; the schema declares the API-key
  scheme (``X-API-Key`` header) on every operation but the health checks, and ``/api/docs/``
  serves Swagger UI from the drf-spectacular-sidecar static files, not from a CDN;
* schemathesis drives every operation of the schema through the real WSGI application, in
  process, with a real tenant key (and sometimes an operator key) and real tasks in every
  status: no 5xx, no undocumented status code or content type, no response body or header
  that breaks the schema;
* inputs schemathesis does not reliably produce answer their documented status with an
  RFC 9457 problem document, and so does every secured operation called without a key.

Bounded for CI: ``MAX_EXAMPLES`` generated cases per operation (plus schemathesis' coverage
cases), no shrinking, no deadline, derandomized, no example database.
"""

import schemathesis

from engine_site.wsgi import application

MAX_EXAMPLES = 25
UNSECURED = {"/api/health", "/api/health/ready"}
#: Documented in the schema but served by a channels consumer, not the WSGI application driven
#: here: tests/jobs/api/test_stream*.py drive it over a real server.
STREAMS = {"/api/sse/events"}
METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}

CONFIG = schemathesis.Config.from_dict({
    "suppress-health-check": ["all"],
    "warnings": False,
    "generation": {
        "max-examples": MAX_EXAMPLES,
        "no-shrink": True,
        "deterministic": True,
        "database": "none",
        # Requests carry a real key (see the schemathesis test); a generated one would only get 401.
        "with-security-parameters": False,
    },
})
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=CONFIG).exclude(
    path=sorted(STREAMS))
OPERATIONS = sorted(
    (method, path, operation)
    for path, item in schema.raw_schema["paths"].items()
    for method, operation in item.items()
    if method in METHODS and path not in STREAMS
)
