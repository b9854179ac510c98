"""Point a test's settings at a Redis server (or at none), as settings.py does from REDIS_URL."""

from typing import Any

from engine_site.settings import caches_for

#: A Redis URL where nothing listens (port 1): every connection is refused at once.
DOWN_URL = "redis://127.0.0.1:1/0"


def use_redis(settings: Any, url: str | None) -> None:
    """Set REDIS_URL and the CACHES built from it (the shared Redis client is the default cache's pool)."""
    settings.REDIS_URL = url
    settings.CACHES = caches_for(url)
