"""The resource command: set, list, delete in-process; bad input through the real CLI (no traceback)."""

import pytest
from django.core.management.base import CommandError
from django.db import transaction

from jobs import clock
from jobs.models import Resource, ResourceBucket
from jobs.store import tokens
from tests.support.commands import assert_clean_failure, manage, run


@pytest.mark.django_db
def test_set_creates_then_updates_a_resource() -> None:
    out = run("resource", "set", "partner-api", "--rate", "5", "--per", "1")
    assert "created resource partner-api: 5 per 1 s, global" in out
    r = Resource.objects.get(name="partner-api")
    assert (r.rate, r.per_seconds, r.per_tenant) == (5, 1.0, False)
    assert ResourceBucket.objects.filter(resource=r, scope=0).exists(), "the global bucket is made up front"
    first_update = r.updated_at
    out = run("resource", "set", "partner-api", "--rate", "100", "--per", "60", "--per-tenant")
    assert "updated resource partner-api: 100 per 60 s, per tenant" in out
    r.refresh_from_db()
    assert (r.rate, r.per_seconds, r.per_tenant) == (100, 60.0, True)
    assert r.updated_at >= first_update
    assert Resource.objects.count() == 1


@pytest.mark.django_db
def test_list_shows_what_is_available_now(tenant) -> None:
    assert "no resources" in run("resource", "list")
    run("resource", "set", "gpu", "--rate", "3", "--per", "10")
    run("resource", "set", "mail", "--rate", "2", "--per", "0.5", "--per-tenant")
    with transaction.atomic():
        tokens.take({("gpu", tenant.pk): 1, ("mail", tenant.pk): 2}, clock.now())
    lines = run("resource", "list").splitlines()
    assert lines[0].split() == ["NAME", "RATE", "PER", "SCOPE", "AVAILABLE", "NOW"]
    gpu = next(line for line in lines if line.startswith("gpu"))
    assert gpu.split()[:5] == ["gpu", "3", "10", "s", "global"] and gpu.endswith("2/3")
    mail = next(line for line in lines if line.startswith("mail"))
    assert "per tenant" in mail and mail.endswith("2 each; 1 of 1 tenant(s) at 0")
    with transaction.atomic():
        tokens.take({("gpu", tenant.pk): 2}, clock.now())
    gpu = next(line for line in run("resource", "list").splitlines() if line.startswith("gpu"))
    assert "0/3 (next at " in gpu


@pytest.mark.django_db
def test_delete_removes_the_resource_and_its_buckets() -> None:
    run("resource", "set", "gpu", "--rate", "3", "--per", "10")
    assert "deleted resource gpu" in run("resource", "delete", "gpu")
    assert not Resource.objects.exists() and not ResourceBucket.objects.exists()
    with pytest.raises(CommandError, match="name: no resource 'gpu'"):
        run("resource", "delete", "gpu")


@pytest.mark.django_db
def test_bad_definitions_are_refused_in_process() -> None:
    with pytest.raises(CommandError, match="rate: a whole number from 1 to 10000"):
        run("resource", "set", "gpu", "--rate", "10001", "--per", "1")
    with pytest.raises(CommandError, match="name: 1 to 100 characters"):
        run("resource", "set", "bad/name", "--rate", "1", "--per", "1")
    with pytest.raises(CommandError, match=r"per: seconds, at least 0\.001"):
        run("resource", "set", "gpu", "--rate", "1", "--per", "0.0001")
    assert not Resource.objects.exists()


@pytest.mark.parametrize(("args", "fragments"), [
    (["set", "gpu", "--rate", "0", "--per", "1"], ["--rate", "at least 1"]),
    (["set", "gpu", "--rate", "x", "--per", "1"], ["--rate", "not an integer"]),
    (["set", "gpu", "--rate", "5", "--per", "0"], ["--per", "more than zero"]),
    (["set", "gpu", "--rate", "5"], ["--per"]),
    (["set", "gpu", "--rate", "20000", "--per", "1"], ["rate: a whole number from 1 to 10000"]),
    (["set", "n" * 101, "--rate", "5", "--per", "1"], ["name:"]),
    (["delete", "nothing"], ["no resource 'nothing'"]),
    (["frobnicate"], ["invalid choice"]),
    ([], ["set|list|delete"]),
])
def test_bad_input_fails_cleanly_through_the_cli(worker_env, args, fragments) -> None:
    assert_clean_failure(manage(worker_env, "resource", *args), *fragments)
    assert not Resource.objects.exists()
