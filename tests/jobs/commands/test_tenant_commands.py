"""The create_tenant and tenant commands: success paths in-process, bad input through the real CLI."""

from typing import Any

import pytest
from django.core.management.base import CommandError

from tenants.models import Tenant
from tests.support.commands import assert_clean_failure, manage, run


@pytest.mark.django_db
def test_create_tenant() -> None:
    out = run("create_tenant", "Initech Corp", "--weight", "3")
    tenant = Tenant.objects.get(slug="initech-corp")
    assert (tenant.name, tenant.weight, tenant.active) == ("Initech Corp", 3, True)
    assert "initech-corp" in out
    assert f"id {tenant.pk}" in out


@pytest.mark.django_db
def test_create_tenant_with_explicit_slug_and_default_weight() -> None:
    run("create_tenant", "Initech", "--slug", "ini")
    assert Tenant.objects.get(slug="ini").weight == 1


@pytest.mark.django_db
def test_create_tenant_if_missing_is_quiet_about_an_existing_slug(tenant: Tenant) -> None:
    out = run("create_tenant", "Acme", "--if-missing", "--weight", "5")
    assert "exists" in out
    assert Tenant.objects.count() == 1
    tenant.refresh_from_db()
    assert tenant.weight == 1


@pytest.mark.django_db
def test_create_tenant_without_letters_or_digits() -> None:
    with pytest.raises(CommandError, match="name"):
        run("create_tenant", "!!!")
    assert not Tenant.objects.exists()


def test_create_tenant_duplicate_slug_fails_cleanly(worker_env: dict[str, str], tenant: Tenant) -> None:
    proc = manage(worker_env, "create_tenant", "Another Acme", "--slug", "acme")
    assert_clean_failure(proc, "'acme' already exists")
    assert list(Tenant.objects.values_list("name", flat=True)) == ["Acme"]


def test_create_tenant_name_too_long_fails_cleanly(worker_env: dict[str, str]) -> None:
    proc = manage(worker_env, "create_tenant", "n" * 300)
    assert_clean_failure(proc)
    assert not Tenant.objects.exists()


def test_create_tenant_invalid_slug_fails_cleanly(worker_env: dict[str, str]) -> None:
    proc = manage(worker_env, "create_tenant", "Bob", "--slug", "not a slug!")
    assert_clean_failure(proc, "slug")
    assert not Tenant.objects.exists()


def test_create_tenant_weight_zero_fails_cleanly(worker_env: dict[str, str]) -> None:
    proc = manage(worker_env, "create_tenant", "Initech", "--weight", "0")
    assert_clean_failure(proc, "--weight", "at least 1")
    assert not Tenant.objects.exists()


@pytest.mark.django_db
def test_create_tenant_with_a_cap() -> None:
    out = run("create_tenant", "Initech", "--max-running", "4")
    assert Tenant.objects.get(slug="initech").max_running == 4
    assert "max running 4" in out


@pytest.mark.django_db
def test_create_tenant_takes_the_default_cap_from_the_conf(settings: Any) -> None:
    settings.JOBS = {"DEFAULT_MAX_RUNNING": 7}
    run("create_tenant", "Initech")
    run("create_tenant", "Hooli", "--max-running", "2")
    assert dict(Tenant.objects.values_list("slug", "max_running")) == {"initech": 7, "hooli": 2}


@pytest.mark.django_db
def test_tenant_command_changes_and_shows_settings(tenant: Tenant) -> None:
    out = run("tenant", "acme", "--max-running", "3", "--weight", "2", "--inactive")
    tenant.refresh_from_db()
    assert (tenant.max_running, tenant.weight, tenant.active) == (3, 2, False)
    assert "weight 2, max running 3, inactive" in out
    out = run("tenant", "acme", "--max-running", "none", "--active")
    tenant.refresh_from_db()
    assert (tenant.max_running, tenant.active) == (None, True)
    assert "max running none, active" in out
    assert "weight 2, max running none, active" in run("tenant", "acme")  # no flags: shows them


def test_tenant_command_unknown_slug_fails_cleanly(worker_env: dict[str, str]) -> None:
    assert_clean_failure(manage(worker_env, "tenant", "nobody", "--max-running", "2"), "no tenant 'nobody'")


@pytest.mark.parametrize(("args", "fragment"), [
    (["--max-running", "0"], "at least 1"),
    (["--max-running", "lots"], "not an integer"),
    (["--weight", "0"], "at least 1"),
    (["--active", "--inactive"], "not allowed with"),
])
def test_tenant_command_bad_input_fails_cleanly(worker_env: dict[str, str], tenant: Tenant, args: list[str],
                                                fragment: str) -> None:
    assert_clean_failure(manage(worker_env, "tenant", "acme", *args), fragment)
    tenant.refresh_from_db()
    assert (tenant.max_running, tenant.weight, tenant.active) == (None, 1, True)
