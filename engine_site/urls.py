from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("jobs.api.urls")),
    path("", include("dashboard.urls")),
]

handler404 = "engine_site.views.not_found"
handler500 = "engine_site.views.server_error"
