"""One error shape everywhere: every API error becomes an RFC 9457 problem document (``jobs.problems``)."""

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.db import InterfaceError, OperationalError, connection
from django.http import Http404, HttpRequest, JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from ..exceptions import InvalidBatch, InvalidFields, InvalidTask, InvalidTransition, PayloadTooLarge
from ..problems import CONTENT_TYPE, KINDS, PROBLEM_TYPE, TITLES, problem
from ..services.listing import InvalidParam

logger = logging.getLogger(__name__)

#: A request without an API key, wherever it is refused.
NO_KEY = "An API key is required."


class Problem(exceptions.APIException):
    """An API error with its status, a problem type slug (``jobs.problems.KINDS``; default: the status's),
    optional extra headers and members; ``errors`` (``[{field, message}]``) joins the members."""

    def __init__(self, status_code: int, detail: str, *, kind: str = "", headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.kind = kind
        self.headers = headers or {}
        self.extra = {**(extra or {}), **({"errors": errors} if errors else {})}


def invalid(field: str, message: str) -> Problem:
    """The 400 naming one invalid ``field`` (a query parameter, a header), for code outside a serializer."""
    return Problem(400, "The request is invalid.", kind="validation", errors=[{"field": field, "message": message}])


def _flatten(detail: Any, path: str = "") -> list[dict[str, str]]:
    """Turn DRF's nested error structures into ``[{field, message}]`` with dotted paths."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            out += _flatten(value, f"{path}.{name}" if path and name else (name or path))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [{"field": path or "body", "message": str(item)} for item in detail]
        out = []
        for index, item in enumerate(detail):
            out += _flatten(item, f"{path}[{index}]")
        return out
    return [{"field": path or "body", "message": str(detail)}]


def _task_errors(exc: InvalidTask) -> list[dict[str, str]]:
    if isinstance(exc, InvalidBatch):
        return [{"field": f"tasks[{i}].{field}", "message": msg} for i, field, msg in exc.errors]
    if isinstance(exc, InvalidFields):
        return [{"field": e.field, "message": e.message} for e in exc.errors]
    return [{"field": exc.field, "message": exc.message}]


def _response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = Response(body, status=body["status"], headers=headers, content_type=CONTENT_TYPE)
    return response


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's exception handler: every error becomes a problem document."""
    if isinstance(exc, Problem):
        return _response(problem(exc.status_code, str(exc.detail), kind=exc.kind, extra=exc.extra), exc.headers)
    if isinstance(exc, RequestDataTooBig):
        # A safety net: the API's parser reads bodies itself (jobs.api.parsers), never through request.body.
        return _response(problem(413, str(exc), kind="payload-too-large"))
    if isinstance(exc, PayloadTooLarge):
        return _response(problem(413, exc.message, kind="payload-too-large", errors=_task_errors(exc)))
    if isinstance(exc, InvalidTask):
        return _response(problem(400, "The request is invalid.", kind="validation", errors=_task_errors(exc)))
    if isinstance(exc, InvalidParam):
        return _response(problem(400, "The request is invalid.", kind="validation",
                                 errors=[{"field": exc.name, "message": exc.message}]))
    if isinstance(exc, InvalidTransition):
        verb = {"cancel": "cancelled", "requeue": "retried"}.get(exc.action, exc.action)
        return _response(problem(409, f"The task is {exc.status}; it cannot be {verb}.", kind="invalid-state",
                                 extra={"current_status": exc.status}))
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        return _response(problem(404, "No such resource.", kind="not-found"))
    if isinstance(exc, exceptions.ValidationError):
        return _response(problem(400, "The request is invalid.", kind="validation", errors=_flatten(exc.detail)))
    if isinstance(exc, exceptions.ParseError):
        # A body that is not JSON: a 400 like any other, its one invalid field the body.
        return _response(problem(400, str(exc.detail), kind="validation",
                                 errors=[{"field": "body", "message": str(exc.detail)}]))
    if isinstance(exc, exceptions.APIException):
        headers = {}
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            code = 401
            headers["WWW-Authenticate"] = 'Bearer realm="api"'
            if isinstance(exc, exceptions.NotAuthenticated):
                detail = NO_KEY  # the words of the API stream and scope.key_of, not DRF's
        else:
            code = exc.status_code
        return _response(problem(code, detail), headers)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database is down or restarting: a temporary condition, not a bug.
        logger.warning("database unavailable: %s", exc)
        connection.close_if_unusable_or_obsolete()
        return _response(problem(503, "The database is unavailable; retry shortly.", kind="unavailable"),
                         {"Retry-After": "2"})
    logger.exception("unhandled API error", exc_info=exc)
    return _response(problem(500, "An unexpected error occurred; it has been logged."))


def json_404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(problem(404, f"No endpoint at {request.path}.", kind="not-found"), status=404,
                        content_type=CONTENT_TYPE)


def json_500(request: HttpRequest) -> JsonResponse:
    return JsonResponse(problem(500, "An unexpected error occurred; it has been logged."),
                        status=status.HTTP_500_INTERNAL_SERVER_ERROR, content_type=CONTENT_TYPE)


class FieldErrorSerializer(serializers.Serializer[Any]):
    field = serializers.CharField()
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer[Any]):
    """RFC 9457 problem details."""

    type = serializers.CharField(help_text=f"{PROBLEM_TYPE}<kind>, a kind of: {', '.join(KINDS)}.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = FieldErrorSerializer(  # type: ignore[assignment]
        many=True, required=False, help_text="On every 400 (and a batch's 409): each invalid or unknown body field, "
                                             "query parameter or batch item (tasks[3].priority), all at once.")
    current_status = serializers.CharField(required=False, help_text="409 only.")
    retry_after = serializers.IntegerField(required=False, help_text="429 only.")
    limit = serializers.IntegerField(required=False, help_text="413 (and admission's 429): the limit passed.")


def problem_responses(*codes: int, unavailable: bool = True) -> dict[Any, Any]:
    """OpenAPI responses for the given error statuses as problem+json, with 400 (any endpoint refuses an
    unknown query parameter: ``jobs.api.params``) and 503 (database down) unless ``unavailable`` is false."""
    every = {*codes, 400, *((503,) if unavailable else ())}
    return {(code, CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description=TITLES.get(code, "Error"))
            for code in sorted(every)}
