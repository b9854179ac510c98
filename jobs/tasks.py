"""The engine app's own task module (found by ``autodiscover_modules("tasks")``): wires the webhook
delivery to the API's representation of a task, which ``jobs.contrib`` sits below and may not import."""

from .api import representation
from .contrib import webhooks

webhooks.render = representation.task
