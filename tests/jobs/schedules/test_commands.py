"""manage.py schedule: add, list (table and JSON), pause, resume, run-now, delete; bad input refused cleanly."""

import getpass
import json
import socket

import pytest
from django.core.management.base import CommandError

from jobs.models import AuditEntry, Schedule, Task
from tenants.models import Tenant
from tests.support.commands import assert_clean_failure, manage, run


@pytest.mark.django_db
def test_add_list_pause_resume_run_now_delete(tenant: Tenant) -> None:
    out = run("schedule", "add", "nightly", "--tenant", "acme", "--type", "noop", "--cron", "30 2 * * *",
              "--tz", "Europe/Berlin", "--payload", '{"report": "daily"}', "--priority", "4", "--missed", "all",
              "--missed-limit", "3", "--options", '{"max_retries": 1}')
    assert out.startswith("added schedule nightly: 30 2 * * * (Europe/Berlin), next run ")
    schedule = Schedule.objects.get(name="nightly")
    assert (schedule.cron, schedule.every, schedule.timezone, schedule.payload, schedule.priority, schedule.missed,
            schedule.missed_limit, schedule.options, schedule.source) == (
        "30 2 * * *", None, "Europe/Berlin", {"report": "daily"}, 4, "all", 3, {"max_retries": 1}, "runtime")
    run("schedule", "add", "often", "--tenant", "acme", "--type", "noop", "--every", "every 30s")
    table = run("schedule", "list").splitlines()
    assert table[0].split()[:4] == ["NAME", "TENANT", "TYPE", "EXPRESSION"]
    assert table[1].split()[:5] == ["nightly", "acme", "noop", "30", "2"]
    assert table[2].split()[:5] == ["often", "acme", "noop", "every", "30s"]
    assert "paused schedule often" in run("schedule", "pause", "often")
    assert run("schedule", "run-now", "often").startswith("fired schedule often: task ")
    listed = {row["name"]: row for row in json.loads(run("schedule", "list", "--json"))}
    assert listed["often"]["enabled"] is False and listed["often"]["every"] == 30
    assert listed["often"]["last_outcome"] == "pending" and listed["often"]["last_task"] == Task.objects.get().pk
    assert listed["nightly"]["drift"] == [] and listed["nightly"]["last_outcome"] == ""
    assert "resumed schedule often; next run" in run("schedule", "resume", "often")
    assert run("schedule", "delete", "often").strip() == "deleted schedule often"
    assert list(Schedule.objects.values_list("name", flat=True)) == ["nightly"]
    who = {e.actor for e in AuditEntry.objects.all()}
    assert who == {f"{getpass.getuser()}@{socket.gethostname()}"}
    assert list(AuditEntry.objects.order_by("pk").values_list("action", flat=True)) == [
        "schedule.create", "schedule.create", "schedule.pause", "schedule.run_now", "schedule.resume",
        "schedule.delete"]


@pytest.mark.django_db
@pytest.mark.parametrize(("args", "fragment"), [
    (["--cron", "61 * * * *"], "--cron: '61 * * * *'"),
    (["--cron", "* * *"], "--cron: must have 5 fields"),
    (["--every", "5 minutes"], "--every: must be an interval"),
    (["--every", "0s"], "--every: must be between 1 second"),
    (["--every", "1m", "--tz", "Mars/Olympus"], "--tz: unknown time zone 'Mars/Olympus'"),
    (["--every", "1m", "--type", "no_such_type"], "--type: unknown task type"),
    (["--every", "1m", "--tenant", "nobody"], "--tenant: unknown tenant 'nobody'"),
    (["--every", "1m", "--options", '{"idempotency_key": "x"}'], "--options: not a task field"),
    (["--every", "1m", "--options", '{"timeout_seconds": -1}'], "--options: must be between"),
])
def test_bad_definitions_are_refused_naming_the_flag(tenant: Tenant, args: list[str], fragment: str) -> None:
    base = ["schedule", "add", "bad", "--tenant", "acme", "--type", "noop"]
    with pytest.raises(CommandError) as exc:
        run(*base, *args)
    assert fragment in str(exc.value)
    assert not Schedule.objects.exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_unknown_names_and_duplicates_are_refused(tenant: Tenant) -> None:
    for action in ("pause", "resume", "delete", "run-now"):
        with pytest.raises(CommandError, match="NAME: no schedule named 'ghost'"):
            run("schedule", action, "ghost")
    run("schedule", "add", "once", "--tenant", "acme", "--type", "noop", "--every", "1h")
    with pytest.raises(CommandError, match="NAME: a schedule named 'once' exists"):
        run("schedule", "add", "once", "--tenant", "acme", "--type", "noop", "--every", "1h")
    with pytest.raises(CommandError, match="NAME: 1 to 100 letters"):
        run("schedule", "add", "has space", "--tenant", "acme", "--type", "noop", "--every", "1h")


def test_the_real_cli_exits_non_zero_without_a_traceback(worker_env: dict[str, str], tenant: Tenant) -> None:
    proc = manage(worker_env, "schedule", "add", "x", "--tenant", "acme", "--type", "noop", "--cron", "99 * * * *")
    assert_clean_failure(proc, "--cron: '99 * * * *'")
    assert_clean_failure(manage(worker_env, "schedule", "add", "x", "--tenant", "acme", "--type", "noop"),
                         "one of the arguments --cron --every is required")
    proc = manage(worker_env, "schedule", "add", "x", "--tenant", "acme", "--type", "noop", "--every", "2s")
    assert proc.returncode == 0, proc.stderr
    assert Schedule.objects.get().every == 2
