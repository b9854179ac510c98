"""gzip for JSON answers (the API's lists weigh up to megabytes), when the client accepts it.

Django's ``GZipMiddleware`` on JSON only (``application/json`` and ``…+json``, the problem
documents): the console's pages and static files are left as they are (whitenoise serves its
own pre-compressed files). The event streams never pass here: they are Channels consumers
(``engine_site.asgi``), not Django responses, and send each message as it happens.

BREACH (a secret compressed beside text an attacker controls leaks through the sizes): a
response carrying a secret says ``Cache-Control: no-store`` (it must not be cached either) and
is sent uncompressed: an issued API key, a webhook's signing secret. Everything else the API
answers holds no secret of the caller's (the key is in the request, never echoed), and
Django's gzip adds random padding to every compressed body as a further mitigation.
"""

from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware


def compressible(response: HttpResponseBase) -> bool:
    """JSON, and not marked as carrying a secret (``no-store``)."""
    kind = response.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        return False
    return "no-store" not in response.get("Cache-Control", "").lower()


class JsonGZipMiddleware(GZipMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if not compressible(response):
            return response
        return super().process_response(request, response)
