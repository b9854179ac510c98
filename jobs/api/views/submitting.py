"""The pieces of a submission (``POST /api/tasks``, ``/api/tasks/batch``) its views share: the answer,
the backlog caps, the idempotency checks and the batch's cost."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.models import Tenant

from ...models import BatchKey, Task
from ...services import admission, idempotency
from ...spec import MAX_KEY_CHARS
from .. import representation
from ..budget import REPLAYED
from ..errors import Problem


def key_header(description: str) -> OpenApiParameter:
    """The schema's ``Idempotency-Key`` request header of an operation."""
    return OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, description=description)


def submitted(task: Task, tenant: Tenant, code: int, headers: dict[str, str] | None = None, *,
              duplicate: bool = False) -> Response:
    """The answer to a submission: the task (the new one, the replayed original, or the live holder
    of its unique key; all of them ``tenant``'s, whose slug the key gave: no query) and whether it was
    that holder."""
    task.tenant = tenant
    return Response(representation.submitted(task, duplicate=duplicate), status=code, headers=headers)


def replayed(task: Task, tenant: Tenant) -> Response:
    """The answer to a replay of ``task``'s idempotency key: the original, marked as a replay."""
    return submitted(task, tenant, 200, dict(REPLAYED))


def admit(tenant: Tenant, adding: int) -> None:
    """The tenant's backlog caps (``jobs.services.admission``): a 429 naming the cap, charged nothing."""
    try:
        admission.check(tenant, adding)
    except admission.Refused as exc:
        raise Problem(429, str(exc), kind="admission", headers={"Retry-After": str(exc.retry_after)},
                      extra={"cap": exc.cap, "limit": exc.limit, **exc.observed,
                             "retry_after": exc.retry_after}) from None


def mismatch(exc: idempotency.Mismatch) -> Problem:
    """The 409 of a key replayed with another body."""
    return Problem(409, str(exc), kind="idempotency-mismatch",
                   extra={"idempotency_key": exc.key, "differs": exc.differs})


def check_replays(pairs: list[tuple[Task, Task]], *, indexes: list[int] | None = None) -> None:
    """409 if a key is replayed with another body (``jobs.services.idempotency``): for a batch,
    one error per such item, named ``tasks[i].idempotency_key`` like the batch's other errors."""
    errors = []
    for n, (original, sent) in enumerate(pairs):
        try:
            idempotency.check(original, sent)
        except idempotency.Mismatch as exc:
            if indexes is None:
                raise mismatch(exc) from None
            errors.append({"field": f"tasks[{indexes[n]}].idempotency_key", "message": str(exc)})
    if errors:
        raise Problem(409, f"{len(errors)} task(s) reuse an idempotency key with a different body; nothing was "
                           "written.", kind="idempotency-mismatch", extra={"errors": errors})


def batch_key(request: Request) -> str | None:
    """The batch's ``Idempotency-Key`` header, if sent (400 naming it when empty or too long)."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= MAX_KEY_CHARS:
        raise ValidationError({"Idempotency-Key": f"must be 1 to {MAX_KEY_CHARS} characters"})
    return key


def replayed_batch(row: BatchKey, sent_hash: str) -> Response:
    """The first answer of ``row``'s key again (its status and body: the ids as they were), or 409 if
    this request's body is another one."""
    try:
        idempotency.check_batch(row, sent_hash)
    except idempotency.Mismatch as exc:
        raise mismatch(exc) from None
    return Response(row.response, status=row.status_code, headers=dict(REPLAYED))


def cost(tasks: list[Task], known: dict[str | None, Task], holders: dict[str, Task]) -> int:
    """The new tasks a batch asks for: not replays of ``known`` keys, not duplicates of a live
    holder nor of an earlier item (a race since may still make some of them duplicates)."""
    held = set(holders)
    n = 0
    for t in tasks:
        if t.idempotency_key in known and t.idempotency_key:
            continue
        if t.unique_active:
            if t.unique_active in held:
                continue
            held.add(t.unique_active)
        n += 1
    return n


def check_batch(tasks: list[Task], originals: dict[str | None, Task]) -> None:
    """``check_replays`` for a batch: the hashes decide; only mismatched originals are read whole."""
    indexes = [i for i, t in enumerate(tasks)
               if t.idempotency_key in originals and not idempotency.replays(originals[t.idempotency_key], t)]
    if indexes:
        whole = Task.objects.in_bulk([originals[tasks[i].idempotency_key].pk for i in indexes])
        check_replays([(whole[originals[tasks[i].idempotency_key].pk], tasks[i]) for i in indexes], indexes=indexes)


def batch_answer(results: list[Any]) -> dict[str, Any]:
    """The body of a batch's 201 (``BatchCreatedSerializer``)."""
    return {
        "created": sum(1 for r in results if r.created),
        "ids": [r.task.pk for r in results],
        "replayed": [i for i, r in enumerate(results) if not r.created and not r.duplicate],
        "duplicate": [i for i, r in enumerate(results) if r.duplicate],
    }
