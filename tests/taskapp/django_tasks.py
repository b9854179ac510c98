"""Functions declared with Django's own ``@task``, run by the engine through jobs.contrib.django_tasks."""

from django.tasks import task


@task(priority=100, queue_name="reports")
def add(a: int, b: int) -> int:
    return a + b


@task()
def explode() -> None:
    raise ValueError("exploded on purpose")


@task(takes_context=True)
def which_attempt(context) -> int:  # type: ignore[no-untyped-def]
    return context.attempt
