"""ASGI entry point (``manage.py serve``, or ``daphne engine_site.asgi:application``): views plus the SSE streams.

The live streams (``jobs/api/stream.py``, ``dashboard/stream.py``) are Channels HTTP consumers;
``GET /api/tasks/{id}?wait=`` waits for its task on the event loop first (``jobs.api.wait``); every
other path goes to Django, run as WSGI on a fixed set of threads whose database
connections persist (``engine_site.threads``, where the measurements are). The session/auth
middleware stack gives the console stream its staff user.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine_site.settings")
# Set Django up before importing anything that touches models.
django.setup(set_prefix=False)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from dashboard.stream import ConsoleEventStream  # noqa: E402
from engine_site.threads import DjangoOnThreads  # noqa: E402
from jobs.api.bodies import BodyLimit  # noqa: E402
from jobs.api.conf import api_conf  # noqa: E402
from jobs.api.stream import ApiEventStream  # noqa: E402
from jobs.api.wait import WaitForTask  # noqa: E402

django_app = DjangoOnThreads(api_conf().WEB_THREADS)

# Bodies over API_MAX_BODY_BYTES are refused before Django's handler spools them (jobs.api.bodies).
application = BodyLimit(ProtocolTypeRouter({
    "http": URLRouter([
        path("api/sse/events", ApiEventStream.as_asgi()),
        # ?wait= waits on the event loop (jobs.api.wait), holding no thread; then Django answers.
        path("api/tasks/<int:pk>", WaitForTask(django_app)),  # type: ignore[arg-type]  # an ASGI app
        # Only the console stream needs the session user; Django's own middleware serves the rest.
        path("console/events", AuthMiddlewareStack(ConsoleEventStream.as_asgi())),
        re_path(r"", django_app),  # type: ignore[arg-type]  # URLRouter takes ASGI apps
    ]),
}))
