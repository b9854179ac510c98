"""The only code that writes ``Task.status``.

``transitions`` holds enqueue, claim, promote, cancel, request cancel, requeue and
release; ``finish`` the fenced end of a run and the rescue of lost runs; ``isolate`` writes
outcomes in bounded batches and isolates the rows the database refuses. Each records its
outbox events and rollups through ``effects.record``. ``discard`` deletes dead-lettered tasks
(not a status change, but fenced like one: only those still failed, inside a confirmation's
cut-off). Services call these; the API, the console and the admin go through the services
(an import-linter contract checks it).
"""
