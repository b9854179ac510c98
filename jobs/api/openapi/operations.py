"""Summary and description of every operation, by operationId."""

OPERATIONS: dict[str, tuple[str, str]] = {
    "tasks_create": (
        "Submit a task",
        "Enqueue one task of one of the caller's types for the key's tenant. 201 with `Location` and the task; "
        "a replayed `Idempotency-Key` answers 200 with the original task (409 if the body differs); a held "
        "unique key answers 200 with the live holder and `duplicate: true`, uncharged. Costs 1 against the "
        "tenant's rate limit."),
    "tasks_batch": (
        "Submit up to 1,000 tasks at once",
        "All or nothing: every invalid item is named (`tasks[3].priority`). `ids[i]` answers item `i`; "
        "`replayed` counts items answered by an idempotency replay, `duplicate` by a unique key's holder. "
        "Costs one per task against the tenant's rate limit."),
    "tasks_list": (
        "List tasks",
        "Filter by status, type, priority, queue, dates, worker, error text, `q` or `why`; page by number "
        "(`page`, `page_size`; `total` counts up to 10,000) or by cursor (`cursor`, no count, any depth)."),
    "tasks_retrieve": (
        "Get a task",
        "The task with its error timeline (one entry per failed attempt), queue wait, execution time and lease. "
        "404 for another tenant's task."),
    "tasks_cancel": (
        "Cancel a task",
        "A waiting task is cancelled at once; a running one is asked to stop (`cancel_requested`) and its worker "
        "records it as cancelled. 409 with `current_status` when it has already finished."),
    "tasks_retry": (
        "Retry a failed or cancelled task",
        "Requeue it with fresh attempts; 409 for a task in any other state. Charged 1 to the tenant's rate limit."),
    "tasks_why": (
        "Why is this task where it is?",
        "One code (`scheduled`, `paused`, `tenant_limit`, `concurrency_limit`, `rate_limit`, `no_worker`, `busy`, "
        "`ready`, or the task's final state), a sentence, the detail behind it and, when known, when it is "
        "expected to be ready (`eta`)."),
    "bulk_create": (
        "Start a bulk action",
        "Cancel, retry or requeue a dead-letter group in the background, on the tasks matching a filter up to "
        "the id `upto` (default: the newest match now). 202 at once; the same action already under way answers "
        "200 with that one and `duplicate: true`."),
    "bulk_retrieve": ("Get a bulk action's progress",
                      "Its state, the tasks expected, done and skipped so far, and why it stopped or waits."),
    "bulk_stop": ("Stop a bulk action", "Stops it between two batches (202); 409 once it has ended."),
    "analytics": (
        "Task analytics",
        "Counts by status and priority, failure rates, execution and queue wait (average and p95) from the "
        "rollups, so it never scans the task table."),
    "analytics_throughput": ("Throughput over time",
                             "Finished tasks per bucket, oldest first, zero-filled (`window`, `bucket` in seconds)."),
    "analytics_types": ("Analytics per task type",
                        "Per type: counts by status, failure rates, average execution and queue wait."),
    "audit_list": ("The operator audit log",
                   "Operator keys only: newest first, filtered by action, actor, tenant and time; cursor pages."),
    "demo_seed": ("Seed demo tasks", "Operator keys only, and only with `JOBS['DEMO_MODE']`."),
    "demo_clear": ("Clear the demo tenant's tasks", "Operator keys only, and only with `JOBS['DEMO_MODE']`."),
    "health": ("Liveness", "200 while the process serves requests; no key needed."),
    "health_ready": ("Readiness", "200 when the database (and Redis, when configured) answer; else 503."),
    "pauses_list": ("List the pauses in force",
                    "Operator keys only: every paused queue, type or tenant and the tasks it holds parked."),
    "pauses_create": ("Pause a queue, a type or a tenant",
                      "Operator keys only: running tasks finish, nothing new of it starts. 201, or 200 if it was "
                      "already paused (its reason updated)."),
    "pauses_destroy": ("Resume", "Operator keys only: the parked tasks are handed back to `pending`."),
    "schedules_list": ("List recurring schedules", "Operator keys only: cron or interval schedules and next runs."),
    "schedules_create": ("Create a recurring schedule",
                         "Operator keys only: a cron expression or an interval, a zone and a missed-run policy."),
    "schedules_retrieve": ("Get a schedule", "Operator keys only: its spec, next and last runs and drift."),
    "schedules_update": ("Change a schedule", "Operator keys only: any of its fields; audited."),
    "schedules_destroy": ("Delete a schedule", "Operator keys only; audited."),
    "schedules_run": ("Fire a schedule now", "Operator keys only: enqueues its task at once (one tick)."),
    "tenants_retrieve": ("Get a tenant", "Operator keys only: its weight, caps, rate limit and queues."),
    "tenants_update": ("Change a tenant",
                       "Operator keys only: caps, weight, admission limits, queues, active; audited."),
    "workers": ("Tasks running now",
                "The tenant's tasks in a worker slot now, oldest first; operators with `all=true` also get every "
                "live worker process with its slots and clock skew."),
    "webhooks_list": ("List webhook endpoints",
                      "The tenant's endpoints (operators with `all=true`: every tenant's), never their secrets."),
    "webhooks_create": (
        "Create a webhook endpoint",
        "Deliveries of the chosen events (`task.completed`, `task.failed`, `task.cancelled`, `task.retrying`) as "
        "signed POSTs (`Webhook-Signature: t=…,v1=<HMAC-SHA256>`), retried with back-off. The answer holds the "
        "signing `secret`, shown once. In production, private, loopback and link-local targets are refused."),
    "webhooks_retrieve": ("Get a webhook endpoint", "The endpoint and its latest deliveries, each a task of its own."),
    "webhooks_destroy": ("Delete a webhook endpoint", "Deliveries already queued end without being sent."),
    "events_stream": (
        "Live task events (Server-Sent Events)",
        "Every state change of the tenant's tasks as `tasks` events (`id:` is a watermark: reconnect with "
        "`Last-Event-ID` to receive what you missed), a `reset` event when changes may have been missed (reload "
        "from its `resync` URL), and a heartbeat comment every 15 s. Limits: 5 open streams per key, 20 per "
        "tenant (429 beyond)."),
}
