"""A typed client for the job engine's HTTP API: ``Client`` (sync) and ``AsyncClient`` (async), the errors
they raise, the models of the answers, and webhook signature verification."""

from ._core import RetryPolicy, __version__
from .aio import AsyncClient
from .client import Client
from .errors import (
    ApiError,
    AuthenticationFailed,
    BadRequest,
    Conflict,
    InvalidSignature,
    JobEngineError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    StreamLost,
    Unavailable,
    WaitTimeout,
)
from .models import (
    TERMINAL,
    BatchCreated,
    Change,
    CursorPage,
    Event,
    FieldError,
    Problem,
    Status,
    Task,
    TaskDetail,
    TaskError,
    TaskPage,
    TaskSubmitted,
)
from .webhooks import sign, verify_signature

__all__ = [
    "TERMINAL", "ApiError", "AsyncClient", "AuthenticationFailed", "BadRequest", "BatchCreated", "Change", "Client",
    "Conflict", "CursorPage", "Event", "FieldError", "InvalidSignature", "JobEngineError", "NotFound",
    "PayloadTooLarge", "PermissionDenied", "Problem", "RateLimited", "RetryPolicy", "Status", "StreamLost", "Task",
    "TaskDetail", "TaskError", "TaskPage", "TaskSubmitted", "Unavailable", "WaitTimeout", "__version__", "sign",
    "verify_signature",
]
