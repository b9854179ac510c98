"""The HTTP API's tunables: one typed section of the configuration (``jobs.conf``), checked by ``jobs.E005``.

Limits on what a request may ask for (payload size, batch size) are the engine's
(``jobs.conf.EngineConf``): they hold for every way of enqueueing, not only over HTTP.
"""

from dataclasses import dataclass

from ..conf import Section, current


@dataclass(frozen=True, slots=True)
class ApiConf(Section):
    positive = ("API_MAX_BODY_BYTES", "READ_RATE_WINDOW_SECONDS", "WEB_THREADS")

    #: Largest accepted request body, bytes (413 above it, before it is read or parsed). A batch
    #: of MAX_BATCH (1,000) specs of ~4 KiB fits; parsing one costs at most ~25 bytes of heap per
    #: body byte (docs/API.md), so this bounds what one request can make a web process allocate.
    API_MAX_BODY_BYTES: int = 4 * 1024 * 1024
    #: Read budget per API key per window (collection reads: task lists, analytics); 429 beyond it.
    READ_RATE_LIMIT: int = 1200
    #: Length of the read budget's sliding window, seconds.
    READ_RATE_WINDOW_SECONDS: int = 60
    #: What one GET /api/tasks page costs against the read budget.
    LIST_READ_COST: int = 1
    #: What one analytics request costs: each aggregates rollups or recent rows, so more than a page.
    ANALYTICS_READ_COST: int = 5
    #: Threads per web process running Django's views (``engine_site.threads``): requests beyond
    #: that many at once wait for one; each thread keeps its own database connection.
    WEB_THREADS: int = 8
    #: Enables POST /api/demo/seed and /api/demo/clear (operator keys only).
    DEMO_MODE: bool = False


def api_conf() -> ApiConf:
    """Return the API's configuration (cached until a setting changes)."""
    return current(ApiConf)
