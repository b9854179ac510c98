"""``manage.py enqueue --unique-key K [--unique-for S] [--unique-states …]``: duplicates said, bad values refused."""

import pytest
from django.core.management.base import CommandError

from jobs.models import Task
from tenants.models import Tenant
from tests.support.commands import assert_clean_failure, manage, run

pytestmark = pytest.mark.django_db


def test_the_flags_make_a_unique_task_and_a_duplicate_is_said(tenant: Tenant) -> None:
    out = run("enqueue", "noop", "--tenant", "acme", "--unique-key", "nightly", "--unique-for", "120",
              "--unique-states", "waiting, running,completed")
    task = Task.objects.get()
    assert (task.unique_key, task.unique_active, task.unique_states) == ("nightly", "nightly", 1 | 2 | 4)
    assert task.unique_until is not None and round((task.unique_until - task.created_at).total_seconds()) == 120
    assert f"enqueued 1 noop task(s) for acme: #{task.pk}" in out
    again = run("enqueue", "noop", "--tenant", "acme", "--unique-key", "nightly")
    assert not again.startswith("enqueued")
    assert f"duplicate: 1 not enqueued, unique key 'nightly' is held by #{task.pk}" in again
    assert Task.objects.count() == 1


def test_a_count_with_a_unique_key_enqueues_one(tenant: Tenant) -> None:
    out = run("enqueue", "noop", "--tenant", "acme", "--count", "5", "--unique-key", "once")
    task = Task.objects.get()
    assert f"enqueued 1 noop task(s) for acme: #{task.pk}" in out
    assert f"duplicate: 4 not enqueued, unique key 'once' is held by #{task.pk}" in out


@pytest.mark.parametrize(("args", "field"), [
    (["--unique-key", "k", "--unique-states", "running"], "unique_states"),
    (["--unique-key", "k", "--unique-states", "waiting,later"], "unique_states"),
    (["--unique-key", "k", "--unique-states", ","], "unique_states"),
    (["--unique-key", "k", "--unique-for", "9999999999"], "unique_for"),
    (["--unique-key", ""], "unique_key"),
    (["--unique-for", "60"], "unique_for"),
])
def test_bad_values_are_a_command_error_naming_the_field(tenant: Tenant, args: list[str], field: str) -> None:
    with pytest.raises(CommandError, match=f"^{field}: "):
        run("enqueue", "noop", "--tenant", "acme", *args)
    assert not Task.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_real_cli_fails_cleanly(worker_env: dict[str, str], tenant: Tenant) -> None:
    proc = manage(worker_env, "enqueue", "noop", "--tenant", "acme", "--unique-key", "k", "--unique-for", "0")
    assert_clean_failure(proc, "--unique-for")
    proc = manage(worker_env, "enqueue", "noop", "--tenant", "acme", "--unique-key", "k",
                  "--unique-states", "completed")
    assert_clean_failure(proc, "unique_states", "waiting")
