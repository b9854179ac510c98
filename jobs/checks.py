"""System checks: refuse a database or a configuration the engine cannot work with."""

from typing import Any

from django.core.checks import Error, register
from django.db import connections

from .conf import get_conf


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
    try:
        conf = get_conf()
    except (TypeError, ValueError) as exc:
        return [Error(f"Invalid JOBS setting: {exc}", id="jobs.E002")]
    return [Error(problem, id="jobs.E002") for problem in conf.validate()]
