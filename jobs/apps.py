from typing import Any

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from django.core.signals import setting_changed
        from django.utils.module_loading import autodiscover_modules

        from tenants.signals import operator_change

        from . import checks  # noqa: F401  (system checks; they import every conf section)
        from .conf import reset_conf
        from .contrib import bulk, demo, django_tasks  # noqa: F401  (register the built-in task types)

        if not worker_process():
            from .api import schema  # noqa: F401  (the OpenAPI security scheme)
        setting_changed.connect(reset_conf)
        # tenants' operator changes (settings, keys) reach the audit log this way: tenants may not import it.
        operator_change.connect(record_operator_change, dispatch_uid="jobs.audit")
        if demo_types_enabled():
            demo.register()
        # Each installed app's ``tasks`` module registers its task types.
        autodiscover_modules("tasks")


def record_operator_change(sender: object, *, action: str, signal: object = None, **fields: Any) -> None:
    """Write the entry ``tenants.signals.send`` describes, in the sender's transaction."""
    from .services import audit

    audit.record(action, **fields)


def worker_process() -> bool:
    """This process runs ``manage.py runworkers`` (or ``django-admin runworkers``): it serves no HTTP.

    It then skips what only the web tier uses: drf-spectacular's import (the schema's security
    scheme) alone is ≈ 0.25 s of a worker's start-up. Wrong only towards importing it anyway.
    """
    from django.conf import settings

    return bool(getattr(settings, "WORKER_PROCESS", False))


def demo_types_enabled() -> bool:
    """``JOBS['DEMO_TYPES']`` if set; else on outside production, or when the demo endpoints are on."""
    from django.conf import settings

    from .api.conf import ApiConf
    from .conf import EngineConf, load

    # Read uncached: the apps are not ready yet, so a cached section would skip the unknown-key check later.
    try:
        forced, demo_mode = load(EngineConf).DEMO_TYPES, load(ApiConf).DEMO_MODE
    except (TypeError, ValueError):
        forced, demo_mode = None, False  # a value that does not parse: the system check (jobs.E002) reports it
    if forced is not None:
        return bool(forced)  # JOBS_DEMO_TYPES=1/0 arrives as an int
    return not getattr(settings, "PRODUCTION", False) or demo_mode
