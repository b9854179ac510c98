from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from django.core.signals import setting_changed
        from django.utils.module_loading import autodiscover_modules

        from . import checks, handlers  # noqa: F401  (register built-in types and checks)
        from .api import schema  # noqa: F401  (the OpenAPI security scheme)
        from .conf import reset_conf

        setting_changed.connect(reset_conf)
        # Each installed app's ``tasks`` module registers its task types.
        autodiscover_modules("tasks")
