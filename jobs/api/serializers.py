"""Shapes of the API's requests and responses (validation itself lives in jobs.spec, whose
limits these repeat for the schema only by reference)."""

from datetime import datetime
from typing import Any

from rest_framework import serializers

from .. import clock, spec, unique
from ..conf import conf
from ..models import Task
from ..services import why
from ..services.listing import COUNT_CAP
from ..shapes import last_error
from .representation import ms


class Moment(serializers.DateTimeField):
    """A date-time as every response writes it (ISO 8601, UTC as ``Z``), also from the ISO 8601 text a
    service hands over (``isoformat()``'s ``+00:00``), so that no response mixes the two."""

    def to_representation(self, value: Any) -> Any:
        if isinstance(value, str) and value:
            value = datetime.fromisoformat(value)
        return super().to_representation(value)


def moment(value: Any) -> str | None:
    """``value`` (a datetime, ISO 8601 text or nothing) as ``Moment`` writes it."""
    return Moment().to_representation(value) if value else None


class TaskCreateSerializer(serializers.Serializer[Any]):
    """Documents ``POST /api/tasks``; jobs.services.enqueue.build_task validates it."""

    type = serializers.CharField(help_text="One of the caller's task types (a 400 lists them).")
    payload = serializers.DictField(
        required=False, help_text=f"JSON object given to the handler (≤ {conf().MAX_PAYLOAD_BYTES // 1024} KiB).")
    priority = serializers.IntegerField(required=False, min_value=1, max_value=5, help_text="5 is most urgent.")
    max_retries = serializers.IntegerField(
        required=False, min_value=0, max_value=spec.MAX_RETRIES,
        help_text="At most the type's max_retries_cap (default JOBS['MAX_RETRIES_CAP'], 25).")
    max_lost = serializers.IntegerField(
        required=False, min_value=0, max_value=spec.MAX_LOST,
        help_text="Runs that may be lost with their worker (crash, lapsed lease) before the task is dead-lettered; "
                  "lost runs use no retries. Default: the type's, else JOBS['MAX_LOST'].")
    delay_seconds = serializers.FloatField(required=False, min_value=0, max_value=spec.MAX_DELAY_SECONDS)
    run_at = serializers.DateTimeField(required=False, help_text="ISO 8601 with offset; not with delay_seconds.")
    timeout_seconds = serializers.IntegerField(
        required=False, min_value=1, max_value=spec.MAX_TIMEOUT_SECONDS,
        help_text="Within the type's [min_timeout, max_timeout] (by default at most its own timeout).")
    queue = serializers.CharField(required=False, max_length=spec.MAX_QUEUE_CHARS,
                                  help_text="One of the tenant's allowed queues (default: its slug and 'default').")
    idempotency_key = serializers.CharField(required=False, max_length=spec.MAX_KEY_CHARS, min_length=1)
    concurrency_key = serializers.CharField(
        required=False, max_length=spec.MAX_CONCURRENCY_KEY_CHARS, min_length=1,
        help_text="Within the tenant, at most concurrency_limit tasks with this key run at once "
                  "(the others wait, uncharged, without holding up other work). Default: the type's.")
    concurrency_limit = serializers.IntegerField(
        required=False, min_value=1, max_value=spec.MAX_CONCURRENCY_LIMIT,
        help_text="Slots of concurrency_key (default 1); needs concurrency_key.")
    resource = serializers.CharField(
        required=False, max_length=spec.MAX_RESOURCE_CHARS, min_length=1,
        help_text="A resource (manage.py resource set) whose rate limits this task's starts. Default: the type's.")
    unique_key = serializers.CharField(
        required=False, max_length=spec.MAX_UNIQUE_KEY_CHARS, min_length=1,
        help_text="At most one task of the tenant holds this key while in unique_states: a submission whose key "
                  "is held answers 200 with that task and \"duplicate\": true. Default: the type's.")
    unique_for = serializers.IntegerField(
        required=False, min_value=1, max_value=unique.MAX_UNIQUE_FOR,
        help_text="Seconds the key is held at most (a window); default: as long as the task is in unique_states.")
    unique_states = serializers.ListField(
        child=serializers.ChoiceField(choices=list(unique.STATE_BITS)), required=False, min_length=1,
        help_text="The state groups the key counts in (default waiting, running); must include waiting, and "
                  "completed or failed need running.")


class TaskBatchSerializer(serializers.Serializer[Any]):
    tasks = TaskCreateSerializer(many=True)


class BatchCreatedSerializer(serializers.Serializer[Any]):
    created = serializers.IntegerField(help_text="Tasks inserted by this request.")
    ids = serializers.ListField(child=serializers.IntegerField(), help_text="One id per submitted task, in order.")
    replayed = serializers.ListField(
        child=serializers.IntegerField(), help_text="Indexes whose idempotency key already existed."
    )
    duplicate = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Indexes whose unique_key a live task (or an earlier item) holds: their id is that task's.")


class TaskSerializer(serializers.ModelSerializer[Task]):
    tenant: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    timeout_seconds = serializers.IntegerField(source="timeout", read_only=True)
    last_error = serializers.SerializerMethodField()
    unique_states = serializers.SerializerMethodField()
    unique_for = serializers.SerializerMethodField()
    unique_held = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "id", "tenant", "queue", "type", "priority", "payload", "status", "attempts", "max_retries",
            "lost", "max_lost", "interrupted", "snoozed", "run_at", "timeout_seconds", "idempotency_key",
            "concurrency_key", "concurrency_limit", "resource", "blocked_on", "unique_key", "unique_states",
            "unique_for", "unique_until", "unique_held",
            "cancel_requested", "result", "last_error", "worker", "created_at", "started_at", "finished_at",
        ]
        read_only_fields = fields

    def get_last_error(self, task: Task) -> str | None:
        return last_error(task.errors)

    def get_unique_states(self, task: Task) -> list[str]:
        """The state groups its unique_key counts in ([] without a key)."""
        return unique.groups(task.unique_states)

    def get_unique_for(self, task: Task) -> int | None:
        """The key's window, seconds, as submitted (null: held as long as the task is in its states)."""
        return unique.window_of(task)

    def get_unique_held(self, task: Task) -> bool:
        """Whether the task still holds its unique_key (false once it left its states or its window ended)."""
        return unique.held(task, clock.now())


class TaskSubmittedSerializer(TaskSerializer):
    """The answer to ``POST /api/tasks``: the task, and whether it is the live holder of the request's unique_key."""

    duplicate = serializers.BooleanField(
        help_text="true: not created, a live task (this one) holds the request's unique_key; false: created, or "
                  "an idempotency replay.")

    class Meta(TaskSerializer.Meta):
        fields = [*TaskSerializer.Meta.fields, "duplicate"]
        read_only_fields = fields


class TaskErrorSerializer(serializers.Serializer[Any]):
    attempt = serializers.IntegerField()
    at = Moment()
    type = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    worker = serializers.CharField(allow_blank=True)
    traceback = serializers.CharField(required=False)


class TaskDetailSerializer(TaskSerializer):
    # The metaclass pops declared fields, so this does not shadow Serializer.errors.
    errors = TaskErrorSerializer(many=True, read_only=True)  # type: ignore[assignment]
    queue_wait_ms = serializers.SerializerMethodField()
    execution_ms = serializers.SerializerMethodField()

    class Meta(TaskSerializer.Meta):
        fields = [*TaskSerializer.Meta.fields, "errors", "lease_expires_at", "queue_wait_ms", "execution_ms"]
        read_only_fields = fields

    def get_queue_wait_ms(self, task: Task) -> int | None:
        return ms(task.queue_wait)

    def get_execution_ms(self, task: Task) -> int | None:
        return ms(task.execution_time)


class TaskListSerializer(serializers.Serializer[Any]):
    """A page of tasks: page numbers (seed shape) or, with ``cursor``, keyset pages without a count."""

    data = TaskSerializer(many=True)  # type: ignore[assignment]  # popped by the metaclass
    page_size = serializers.IntegerField()
    total = serializers.IntegerField(required=False, help_text=f"Page-number mode only; at most {COUNT_CAP:,}.")
    total_exact = serializers.BooleanField(
        required=False, help_text=f"Page-number mode only: false when more than {COUNT_CAP:,} tasks match."
    )
    page = serializers.IntegerField(required=False, help_text="Page-number mode only.")
    total_pages = serializers.IntegerField(required=False, help_text="Page-number mode only.")
    next_cursor = serializers.CharField(required=False, allow_null=True, help_text="Cursor mode only.")



class WhySerializer(serializers.Serializer[Any]):
    """``GET /api/tasks/{id}/why``: why the task is where it is."""

    code = serializers.ChoiceField(choices=list(why.CODES), help_text="One reason code.")
    message = serializers.CharField(help_text="The reason as a sentence for a human.")
    detail = serializers.DictField(help_text="The blocking detail: the pause, the cap and running count, the key's "
                                             "limit and holders, the resource and next token, free slots…")
    eta = serializers.DateTimeField(allow_null=True, help_text="When it is expected to become ready, if known.")
