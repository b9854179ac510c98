"""A worker's start-up: the first claim goes before maintenance, the web tier's work is left out,
and each process says when it first claimed (the ``startup:`` line the benchmark reads)."""

import logging
import re
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core import checks
from django.core.checks.registry import registry
from django.core.management.base import SystemCheckError
from django.utils import timezone

from jobs.lifecycle import Status
from jobs.management.commands.runworkers import Command
from jobs.models import Task
from jobs.services.enqueue import enqueue, enqueue_many
from tests.support import ROOT
from tests.support.waiting import wait_for

STARTUP = re.compile(r"worker (\S+): startup: ready_ms=(\d+) fork_ms=(\d+) first_claim_ms=(\d+) tasks=(\d+) "
                     r"first_claim_at=([\d.]+)")


@pytest.mark.django_db(transaction=True)
def test_the_first_claim_round_comes_before_the_first_maintenance_round(tenant, inprocess_worker, caplog):
    caplog.set_level(logging.INFO, logger="jobs")
    enqueue_many([{"type": "noop"}] * 20, tenant=tenant)
    # A run of a worker that died a minute ago: the rescuer's first round returns it, and logs that.
    orphan = enqueue("noop", tenant=tenant)
    Task.objects.filter(pk=orphan.pk).update(status=Status.RUNNING, worker="gone:1:dead", attempts=1,
                                             started_at=timezone.now() - timedelta(minutes=2),
                                             lease_expires_at=timezone.now() - timedelta(minutes=1))
    runtime = inprocess_worker.start(threads=2)
    wait_for(lambda: Task.objects.filter(status=Status.COMPLETED).count() == 21, what="the drain, orphan included")
    messages = [r.getMessage() for r in caplog.records]
    first_claim = next(i for i, m in enumerate(messages) if STARTUP.search(m))
    rescued = next(i for i, m in enumerate(messages) if m.startswith("rescued 1 task(s)"))
    assert first_claim < rescued, messages
    match = STARTUP.search(messages[first_claim])
    assert match and match[1] == runtime.worker_id and int(match[5]) >= 1, "the first round claimed from the backlog"
    assert all(service.is_alive() for service in runtime.maintenance), "and the maintenance services run after it"


@pytest.mark.django_db(transaction=True)
def test_a_burst_with_nothing_to_do_ends_without_starting_maintenance(inprocess_worker):
    # The first round finds nothing and stops the process before it lets maintenance start.
    runtime = inprocess_worker.burst(threads=1)
    assert inprocess_worker.exit_code == 0 and runtime.first_round.is_set()
    assert runtime.maintenance and all(service.ident is None for service in runtime.maintenance)


@pytest.mark.django_db
def test_runworkers_leaves_the_web_tiers_checks_out_and_keeps_its_own(settings):
    called: list[str] = []

    def url_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
        called.append("urls")
        return []

    checks.register(url_check, checks.Tags.urls)
    try:
        Command().check_when_reachable()
        assert called == [], "the URL configuration is the web tier's to check"
        assert url_check in registry.registered_checks, "and the registry is whole again afterwards"
        settings.JOBS = {**settings.JOBS, "LEASE_SECONDSS": 30}
        with pytest.raises(SystemCheckError, match=r"jobs\.E002"):
            Command().check_when_reachable()
    finally:
        registry.registered_checks.discard(url_check)


@pytest.mark.parametrize(("command", "imported"), [("runworkers", False), ("check", True)])
def test_only_a_worker_process_skips_the_openapi_extension(command, imported):
    probe = ("import sys, django; django.setup(); "
             "print('jobs.api.schema' in sys.modules, 'drf_spectacular.plumbing' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", f"import sys; sys.argv = ['manage.py', {command!r}]; {probe}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.split() == [str(imported)] * 2


def test_process_start_is_read_from_the_kernel():
    before = time.time()
    out = subprocess.run([sys.executable, "-c", "from jobs.worker.startup import StartTimes; t = StartTimes.now(); "
                          "print(t.process, t.ready)"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True).stdout
    after = time.time()
    process, ready = map(float, out.split())
    # Clock ticks (10 ms) since boot, truncated: the start may read up to a tick before the Popen.
    assert before - 0.011 <= process <= ready <= after
    assert process != ready, "read from the kernel, not the moment of asking"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_each_worker_process_logs_its_first_claim_in_start_order(tenant, workers):
    # Tasks of 0.1 s: a process holds two at a time (no prefetch for slow tasks), so the backlog
    # outlasts the other's start. With noops, on SQLite (one writer at a time) the first process
    # to claim could take the whole backlog as prefetch before the other's first claim got the lock.
    enqueue_many([{"type": "sleep", "payload": {"seconds": 0.1}}] * 60, tenant=tenant)
    popen = time.time()
    proc = workers.start("--processes", "2", "--threads", "2", "--burst")
    assert proc.wait(timeout=120) == 0, workers.log()
    exited = time.time()
    lines = STARTUP.findall(workers.log())
    assert len({line[0] for line in lines}) == 2, workers.log()
    for _, ready, fork, first, _, at in lines:
        # The kernel's start of the supervisor precedes Django's set-up, the fork and the claim.
        assert 0 <= int(ready) <= int(fork) <= int(first), lines
        assert popen <= float(at) <= exited, "first_claim_at is a Unix time, between Popen and exit"
    assert all(int(line[4]) >= 1 for line in lines), ("both first rounds found the backlog", workers.log())
    assert Task.objects.filter(status=Status.COMPLETED).count() == 60
