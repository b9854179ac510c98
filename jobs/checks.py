"""System checks: refuse a database or a configuration the engine cannot work with."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.db import connections

from .api.conf import ApiConf
from .conf import EngineConf, conf, problems, unknown_keys
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


@register()
def check_schedules(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """``JOBS["SCHEDULES"]``: what can be checked without the database (names, timing, policy, fields).

    The tenant and the task fields need the database and the registry: the sync at a worker's start
    checks them and logs an entry it skips.
    """
    from .models import Schedule
    from .services import cron, schedule_specs

    try:
        specs = conf().SCHEDULES
    except (TypeError, ValueError):
        return []  # jobs.E002 reports a configuration that does not load
    if specs is None:
        return []
    if not isinstance(specs, dict):
        return [Error("JOBS['SCHEDULES'] must be a dict of schedule name → definition", id="jobs.E006")]
    errors = []
    for name, spec in specs.items():
        where = f"JOBS['SCHEDULES'][{name!r}]"
        try:
            schedule_specs.check_name(name)
            if not isinstance(spec, dict):
                raise cron.InvalidSchedule("definition", "must be a dict of schedule fields")
            fields = {"timezone" if k == "tz" else k for k in spec}
            unknown = sorted(fields - set(schedule_specs.FIELDS))
            if unknown:
                raise cron.InvalidSchedule(unknown[0], "not a field of a schedule")
            cron.Timing.of(spec.get("cron") or "", spec.get("every"), spec.get("timezone", spec.get("tz", "UTC")))
            if spec.get("missed", Schedule.Missed.LATEST) not in Schedule.Missed.values:
                raise cron.InvalidSchedule("missed", f"one of {', '.join(Schedule.Missed.values)}")
        except cron.InvalidSchedule as exc:
            errors.append(Error(f"{where}: {exc.field}: {exc.message}", id="jobs.E006"))
    return errors
