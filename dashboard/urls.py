from django.contrib.auth import views as auth_views
from django.urls import path

from .views import audit, bulk, failed, limits, overview, queues, reports, schedules, tasks, tenants

app_name = "dashboard"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="dashboard/login.html",
                                                extra_context={"title": "Log in"}), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", overview.overview, name="overview"),
    path("live/health/", overview.live_health, name="live_health"),
    path("live/counters/", overview.live_counters, name="live_counters"),
    path("live/workers/", overview.live_workers, name="live_workers"),
    path("live/feed/", overview.live_feed, name="live_feed"),
    path("live/chart/", overview.live_chart, name="live_chart"),
    path("live/queues/", queues.live_queues, name="live_queues"),
    path("live/limits/", limits.live_limits, name="live_limits"),
    path("queues/", queues.queues_page, name="queues"),
    path("limits/", limits.limits_page, name="limits"),
    path("queues/pause/", queues.queue_pause, name="queue_pause"),
    path("queues/resume/", queues.queue_resume, name="queue_resume"),
    path("tasks/", tasks.task_list, name="tasks"),
    path("tasks/bulk/", tasks.task_bulk, name="tasks_bulk"),
    path("bulk/", bulk.bulk_list, name="bulk_list"),
    path("bulk/<int:pk>/", bulk.bulk_detail, name="bulk"),
    path("bulk/<int:pk>/stop/", bulk.bulk_stop, name="bulk_stop"),
    path("tasks/<int:pk>/", tasks.task_detail, name="task"),
    path("tasks/<int:pk>/cancel/", tasks.task_cancel, name="task_cancel"),
    path("tasks/<int:pk>/retry/", tasks.task_requeue, name="task_requeue"),
    # "Dead letter" is the page's name for people; in code the set is "failed".
    path("dead-letter/", failed.failed_tasks, name="failed"),
    path("dead-letter/requeue/", failed.failed_requeue, name="failed_requeue"),
    path("analytics/", reports.analytics_page, name="analytics"),
    path("types/", reports.types_page, name="types"),
    path("schedules/", schedules.schedule_list, name="schedules"),
    # "_new" is no schedule's name (names start with a letter or a digit).
    path("schedules/_new/", schedules.schedule_add, name="schedule_add"),
    path("schedules/<str:name>/", schedules.schedule_detail, name="schedule"),
    path("schedules/<str:name>/edit/", schedules.schedule_edit, name="schedule_edit"),
    path("schedules/<str:name>/<str:verb>/", schedules.schedule_action, name="schedule_action"),
    path("tenants/", tenants.tenant_list, name="tenants"),
    path("tenants/<slug:slug>/", tenants.tenant_detail, name="tenant"),
    path("tenants/<slug:slug>/numbers/", tenants.tenant_numbers, name="tenant_numbers"),
    path("tenants/<slug:slug>/rename/", tenants.tenant_rename, name="tenant_rename"),
    path("tenants/<slug:slug>/active/", tenants.tenant_active, name="tenant_active"),
    path("tenants/<slug:slug>/pause/", queues.tenant_pause, name="tenant_pause"),
    path("tenants/<slug:slug>/resume/", queues.tenant_resume, name="tenant_resume"),
    path("tenants/<slug:slug>/keys/", tenants.key_create, name="key_create"),
    path("tenants/<slug:slug>/keys/<int:key_id>/revoke/", tenants.key_revoke, name="key_revoke"),
    path("audit/", audit.audit_log, name="audit"),
]
