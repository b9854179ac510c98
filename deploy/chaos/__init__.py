"""Chaos on the local topology: nothing may be lost.

While ``tasks`` short tasks flow in over HTTP through nginx (batches of ``batch`` with
idempotency keys, retried until a 2xx), the run

1. kills -9 a worker supervisor and its children (its process group), then restarts it once
   its tasks have been rescued by the others;
2. kills -9 a web instance, and restarts it a few seconds later;
3. restarts MariaDB (SIGTERM, wait, start again on the same datadir and port) while
   hammering ``GET /api/tasks`` and ``POST /api/tasks`` through nginx and on one web
   instance directly, recording every status;
4. stops Redis for ``redis_down`` seconds (terminated, then started again on its port).

Then it waits for every task to finish and checks: every task is ``completed`` or ``failed``
(none lost, none left ``running``); every enqueue that got a 2xx exists; only tasks a killed
worker held ran more than once (executions are counted from the ``task.started`` changes
in the event outbox, one per claim; a task "held" by the killed worker was claimed by it and
then rescued — started, with a ``WorkerLost`` error naming it, or prefetched and handed back
uncharged); and no request ever got a 500 (503 is the answer while the database is down; nginx's
502 while a web instance dies mid-request, or when every upstream answered 503, is counted
and reported, not a failure).

``python -m deploy.chaos`` runs it and prints the figures.
"""

from .config import Config
from .report import Report
from .run import Chaos

__all__ = ["Chaos", "Config", "Report"]
