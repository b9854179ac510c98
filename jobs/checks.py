"""System checks: refuse a database or a configuration the engine cannot work with."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.db import connections

from .api.conf import ApiConf
from .conf import EngineConf, problems, unknown_keys
from .services import metrics  # noqa: F401  (registers the jobs.W001 deploy check)
from .streams.conf import StreamsConf


@register("database")
def check_database(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor == "sqlite":
            if (connection.settings_dict.get("OPTIONS") or {}).get("transaction_mode") != "IMMEDIATE":
                errors.append(Error(
                    "SQLite must run with OPTIONS['transaction_mode'] = 'IMMEDIATE'",
                    hint="Without row locks, claims serialise only if each transaction takes the write lock at BEGIN.",
                    id="jobs.E001",
                ))
        elif not connection.features.has_select_for_update_skip_locked:
            errors.append(Error(
                f"The '{alias}' database ({connection.vendor}) does not support SELECT … FOR UPDATE SKIP LOCKED",
                hint="Use MySQL 8.4+, MariaDB 10.11+, or the embedded SQLite default.",
                id="jobs.E001",
            ))
    return errors


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = [Error(problem, id="jobs.E002") for problem in problems(EngineConf)]
    unknown = unknown_keys()
    if unknown:
        errors.append(Error(f"Invalid JOBS setting: unknown JOBS settings: {', '.join(sorted(unknown))}",
                            id="jobs.E002"))
    return errors


@register()
def check_streams_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    return [Error(problem, id="jobs.E004") for problem in problems(StreamsConf)]


@register()
def check_api_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    return [Error(problem, id="jobs.E005") for problem in problems(ApiConf)]


@register("caches")
def check_redis(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    # The limiter, wake-ups and the readiness probe use the default cache's Redis pool.
    cache = settings.CACHES.get("default", {})
    if settings.REDIS_URL and (cache.get("BACKEND") != "django_redis.cache.RedisCache"
                               or cache.get("LOCATION") != settings.REDIS_URL):
        return [Error(
            "With REDIS_URL set, CACHES['default'] must be django_redis.cache.RedisCache at REDIS_URL",
            hint="engine_site/settings.py builds it from REDIS_URL; keep it if you define CACHES yourself.",
            id="jobs.E003",
        )]
    return []
