from django.contrib import admin
from django.urls import include, path

from jobs.services.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("jobs.api.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("", include("dashboard.urls")),
]

handler404 = "engine_site.views.not_found"
handler500 = "engine_site.views.server_error"
