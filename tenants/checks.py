"""System checks: refuse a tenant configuration that cannot work."""

from typing import Any

from django.core.checks import Error, register

from jobs.conf import problems

from .conf import TenantsConf


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    return [Error(problem, id="tenants.E001") for problem in problems(TenantsConf)]
