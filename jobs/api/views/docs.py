"""The OpenAPI schema and its Swagger UI, with the API's strict query strings (``jobs.api.params``).

drf-spectacular reads ``format`` (json or yaml, via DRF's content negotiation), ``lang`` and
``version`` on the schema, and passes ``lang`` and ``version`` on from the UI to it: those are
accepted, anything else is a 400 like on every other endpoint.
"""

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ..params import StrictQuery


class SchemaView(StrictQuery, SpectacularAPIView):
    extra_query_params = ("format", "lang", "version")


class DocsView(StrictQuery, SpectacularSwaggerView):
    extra_query_params = ("lang", "version")
