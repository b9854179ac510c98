from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from django.core.signals import setting_changed
        from django.utils.module_loading import autodiscover_modules

        from . import checks  # noqa: F401  (system checks; they import every conf section)
        from .api import schema  # noqa: F401  (the OpenAPI security scheme)
        from .conf import reset_conf
        from .contrib import demo, django_tasks  # noqa: F401  (register the built-in task types)

        setting_changed.connect(reset_conf)
        # Each installed app's ``tasks`` module registers its task types.
        autodiscover_modules("tasks")
