"""The client's address for login throttling (``AXES_CLIENT_IP_CALLABLE``)."""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """``REMOTE_ADDR``, or behind ``LOGIN_PROXY_COUNT`` proxies the address the outermost one saw.

    Each proxy appends the address it was called from to ``X-Forwarded-For`` (nginx's
    ``$proxy_add_x_forwarded_for``), so with N trusted proxies the N-th entry from the right is
    the client; entries further left are the client's own claims and could be forged.
    """
    count = settings.LOGIN_PROXY_COUNT
    if count > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= count:
            return hops[-count]
    return request.META.get("REMOTE_ADDR")
