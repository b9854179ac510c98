"""The built-in task type that delivers one webhook: a signed JSON POST to an endpoint.

A delivery is an ordinary task of its endpoint's tenant: a non-2xx answer, a timeout or a refused
connection fails the attempt, and the engine retries it with back-off, then dead-letters it.
Its body is ``{"id", "event", "attempt", "occurred_at", "task"}``, ``task`` the task as the API shows
it when the delivery is sent; ``Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
"<t>.<raw body>")>`` signs it (docs/WEBHOOKS.md).
"""

import hashlib
import hmac
import http.client
import json
import socket
import time
from collections.abc import Callable
from typing import Any

from ..conf import conf
from ..context import TaskContext
from ..models import Task, Webhook
from ..models.webhooks import DELIVERY_TYPE
from ..registry import task
from ..services import webhooks

#: How the task appears in the body: set by ``jobs.tasks`` to the API's representation (a layer above this one).
render: Callable[[Task], dict[str, Any]] = lambda t: {"id": t.pk, "status": t.status}  # noqa: E731

#: Bytes of an answer kept in the attempt's error (enough for a framework's error line).
ANSWER_BYTES = 500


class DeliveryFailed(Exception):
    """The endpoint answered other than 2xx, or could not be reached: the attempt is retried."""


def sign(secret: str, body: bytes, at: int) -> str:
    """The ``Webhook-Signature`` of ``body`` sent at unix time ``at``."""
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


class _Pinned(http.client.HTTPConnection):
    """HTTP to the address the guard checked, whatever the name resolves to by now."""

    def __init__(self, target: webhooks.Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    """HTTPS to the checked address; the certificate is still verified against the URL's host name."""

    def __init__(self, target: webhooks.Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url`` through the SSRF guard; the status of a 2xx answer, else ``DeliveryFailed``."""
    try:
        target = webhooks.resolve(url)
    except webhooks.InvalidWebhook as exc:
        raise DeliveryFailed(exc.message) from None
    return send(target, body, headers)


def send(target: webhooks.Target, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``target.address``, naming ``target.host`` (Host, TLS); ``DeliveryFailed`` unless 2xx."""
    kind = _PinnedTLS if target.scheme == "https" else _Pinned
    connection = kind(target, conf().WEBHOOK_TIMEOUT_SECONDS)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        answer = connection.getresponse()
        text = answer.read(ANSWER_BYTES).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryFailed(f"{target.host}:{target.port} ({target.address}): {type(exc).__name__}: {exc}") from None
    finally:
        connection.close()
    # Redirects are not followed: the guard checked this URL, not the next one.
    if not 200 <= answer.status < 300:
        raise DeliveryFailed(f"HTTP {answer.status} from {target.host}{target.path}: {text}")
    return answer.status


# Twelve retries, from RETRY_BASE_DELAY doubling up to RETRY_MAX_DELAY (2 s … 1 h by default): an endpoint
# may be down for about two hours before its deliveries are dead-lettered.
@task(DELIVERY_TYPE, internal=True, timeout=60, max_timeout=60, max_retries=12,
      concurrency_key=lambda p: f"webhook:{p.get('webhook')}", concurrency_limit=4)
def deliver(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    hook = Webhook.objects.filter(pk=payload["webhook"], active=True).first()
    if hook is None:
        return {"sent": False, "reason": "the endpoint was deleted or deactivated"}
    found = Task.objects.select_related("tenant").filter(pk=payload["task"], tenant_id=hook.tenant_id).first()
    body = json.dumps({
        "id": ctx.task_id, "event": payload["event"], "attempt": payload.get("attempt"),
        "occurred_at": payload.get("occurred_at"),
        "task": render(found) if found is not None else {"id": payload["task"], "pruned": True},
    }, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "jobs-webhooks/1",
               "Webhook-Id": str(ctx.task_id), "Webhook-Signature": sign(hook.secret, body, int(time.time()))}
    status = post(hook.url, body, headers)
    return {"sent": True, "status": status, "webhook": hook.pk}
