"""manage.py pause / resume: happy paths in-process and through the real CLI, every bad input cleanly refused."""

import getpass
import socket

import pytest

from jobs.lifecycle import Status
from jobs.models import Pause, Task
from tenants.models import Tenant
from tests.support.builders import add_task
from tests.support.commands import assert_clean_failure, manage, run


@pytest.mark.django_db
def test_pause_list_and_resume(tenant: Tenant, settings: object) -> None:
    out = run("pause", "--queue", "emails", "--reason", "SMTP provider down")
    row = Pause.objects.get()
    assert (row.kind, row.value, row.reason) == ("queue", "emails", "SMTP provider down")
    assert row.paused_by == f"{getpass.getuser()}@{socket.gethostname()}"
    assert out.startswith("paused: queue emails: paused by ") and "SMTP provider down" in out
    assert "already paused, updated" in run("pause", "--queue", "emails", "--reason", "still down")
    run("pause", "--tenant", "acme")
    run("pause", "--type", "noop")
    listed = run("pause", "--list").splitlines()
    assert [line.split(":")[0] for line in listed] == ["queue emails", "tenant acme", "type noop"]
    assert "still down" in listed[0] and "0 task(s) parked" in listed[0] and "(no reason given)" in listed[1]
    parked = add_task(tenant, "sleep", status=Status.BLOCKED, blocked_on="pause", queue="emails")
    assert "1 task(s) parked" in run("pause", "--list").splitlines()[0]
    out = run("resume", "--queue", "emails")
    assert out.strip() == "resumed queue emails: 1 parked task(s) are pending again"
    assert Task.objects.get(pk=parked.pk).status == Status.PENDING
    run("resume", "--tenant", "acme")
    run("resume", "--type", "noop")
    assert run("pause", "--list").strip() == "nothing is paused"


def test_the_real_cli_pauses_and_resumes(worker_env: dict[str, str], tenant: Tenant) -> None:
    proc = manage(worker_env, "pause", "--tenant", "acme", "--reason", "invoice dispute")
    assert proc.returncode == 0, proc.stderr
    assert Pause.objects.get(kind="tenant").reason == "invoice dispute"
    proc = manage(worker_env, "resume", "--tenant", "acme")
    assert proc.returncode == 0 and "resumed tenant acme" in proc.stdout, proc.stderr
    assert not Pause.objects.exists()


@pytest.mark.parametrize(("args", "fragment"), [
    (["pause"], "give one of --queue Q, --type T or --tenant SLUG"),
    (["pause", "--queue", "a", "--type", "noop"], "not allowed with"),
    (["pause", "--tenant", "nobody"], "--tenant: no tenant 'nobody'"),
    (["pause", "--type", "no_such_type"], "--type: unknown task type 'no_such_type'"),
    (["pause", "--queue", ""], "--queue: give the queue's name"),
    (["pause", "--queue", "q" * 65], "at most 64"),
    (["pause", "--queue", "q", "--reason", "r" * 501], "--reason: at most 500"),
    (["pause", "--list", "--queue", "q"], "--list takes no other option"),
    (["resume"], "one of the arguments --queue --type --tenant is required"),
    (["resume", "--queue", "never"], "--queue: 'never' is not paused"),
    (["resume", "--queue", "a", "--tenant", "acme"], "not allowed with"),
])
def test_bad_input_fails_cleanly(worker_env: dict[str, str], tenant: Tenant, args: list[str], fragment: str) -> None:
    assert_clean_failure(manage(worker_env, *args), fragment)
    assert not Pause.objects.exists()
