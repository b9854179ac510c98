from django.urls import path

from .views import analytics, audit, bulk, demo, pauses, schedules, system, tasks, tenants, webhooks
from .views.docs import DocsView, SchemaView

urlpatterns = [
    path("tasks", tasks.TaskListCreateView.as_view(), name="api-tasks"),
    path("tasks/batch", tasks.TaskBatchView.as_view(), name="api-tasks-batch"),
    path("tasks/<int:pk>", tasks.TaskDetailView.as_view(), name="api-task"),
    path("tasks/<int:pk>/why", tasks.TaskWhyView.as_view(), name="api-task-why"),
    path("tasks/<int:pk>/cancel", tasks.TaskCancelView.as_view(), name="api-task-cancel"),
    path("tasks/<int:pk>/retry", tasks.TaskRetryView.as_view(), name="api-task-retry"),
    path("bulk", bulk.BulkCreateView.as_view(), name="api-bulk"),
    path("bulk/<int:pk>", bulk.BulkDetailView.as_view(), name="api-bulk-detail"),
    path("bulk/<int:pk>/stop", bulk.BulkStopView.as_view(), name="api-bulk-stop"),
    path("analytics", analytics.AnalyticsView.as_view(), name="api-analytics"),
    path("analytics/throughput", analytics.ThroughputView.as_view(), name="api-analytics-throughput"),
    path("analytics/types", analytics.TypesView.as_view(), name="api-analytics-types"),
    path("tenants/<slug:slug>", tenants.TenantDetailView.as_view(), name="api-tenant"),
    path("pauses", pauses.PauseListView.as_view(), name="api-pauses"),
    path("pauses/<str:kind>/<str:value>", pauses.PauseDetailView.as_view(), name="api-pause"),
    path("audit", audit.AuditListView.as_view(), name="api-audit"),
    path("schedules", schedules.ScheduleListView.as_view(), name="api-schedules"),
    path("schedules/<str:name>", schedules.ScheduleDetailView.as_view(), name="api-schedule"),
    path("schedules/<str:name>/run", schedules.ScheduleRunView.as_view(), name="api-schedule-run"),
    path("webhooks", webhooks.WebhookListView.as_view(), name="api-webhooks"),
    path("webhooks/<int:pk>", webhooks.WebhookDetailView.as_view(), name="api-webhook"),
    path("workers", system.WorkersView.as_view(), name="api-workers"),
    path("health", system.HealthView.as_view(), name="api-health"),
    path("health/ready", system.ReadyView.as_view(), name="api-ready"),
    path("demo/seed", demo.DemoSeedView.as_view(), name="api-demo-seed"),
    path("demo/clear", demo.DemoClearView.as_view(), name="api-demo-clear"),
    path("schema/", SchemaView.as_view(authentication_classes=[], permission_classes=[]), name="api-schema"),
    path("docs/", DocsView.as_view(url_name="api-schema", authentication_classes=[], permission_classes=[]),
         name="api-docs"),
]
