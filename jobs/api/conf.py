"""The HTTP API's tunables: one typed section of the configuration (``jobs.conf``), checked by ``jobs.E005``.

Limits on what a request may ask for (payload size, batch size) are the engine's
(``jobs.conf.EngineConf``): they hold for every way of enqueueing, not only over HTTP.
"""

from dataclasses import dataclass

from ..conf import Section, current


@dataclass(frozen=True, slots=True)
class ApiConf(Section):
    positive = ("API_MAX_BODY_BYTES",)

    #: Largest accepted request body, bytes (413 above it).
    API_MAX_BODY_BYTES: int = 16 * 1024 * 1024
    #: Enables POST /api/demo/seed and /api/demo/clear (operator keys only).
    DEMO_MODE: bool = False


def api_conf() -> ApiConf:
    """Return the API's configuration (cached until a setting changes)."""
    return current(ApiConf)
