"""The configuration: one loader, a typed section per app, checked at start-up."""

import pytest

from jobs import checks
from jobs.api.conf import ApiConf, api_conf
from jobs.conf import EngineConf, conf, problems, unknown_keys
from jobs.streams.conf import StreamsConf, streams_conf
from tenants import checks as tenant_checks
from tenants.conf import TenantsConf
from tenants.conf import conf as tenants_conf

CHECKS = {"jobs.E002": checks.check_settings, "jobs.E004": checks.check_streams_settings,
          "jobs.E005": checks.check_api_settings, "tenants.E001": tenant_checks.check_settings}


def _errors(check: str) -> list[str]:
    errors = CHECKS[check]()
    assert all(e.id == check for e in errors)
    return [e.msg for e in errors]


def test_environment_values_are_typed_and_the_setting_wins_over_them(settings) -> None:
    settings.JOBS_ENV = {"RESCUE_SECONDS": "42", "PRUNE_BATCH": "12", "SSE_BATCH": "7", "DEMO_MODE": "yes",
                         "API_RATE_LIMIT": "9"}
    # The test settings' JOBS sets RESCUE_SECONDS: the setting wins over the environment.
    assert settings.JOBS["RESCUE_SECONDS"] == conf().RESCUE_SECONDS
    assert conf().PRUNE_BATCH == 12 and isinstance(conf().PRUNE_BATCH, int)
    assert streams_conf().SSE_BATCH == 7
    assert api_conf().DEMO_MODE is True
    assert tenants_conf().API_RATE_LIMIT == 9
    settings.JOBS = {**settings.JOBS, "PRUNE_BATCH": 50}
    assert conf().PRUNE_BATCH == 50


def test_every_section_owns_its_keys_in_the_one_namespace(settings) -> None:
    settings.JOBS = {**settings.JOBS, "SSE_GAP_SECONDS": 8, "API_MAX_BODY_BYTES": 1000, "API_KEY_CACHE_SECONDS": 0}
    assert unknown_keys() == set()
    assert streams_conf().SSE_GAP_SECONDS == 8 and api_conf().API_MAX_BODY_BYTES == 1000
    assert tenants_conf().API_KEY_CACHE_SECONDS == 0
    sections = [EngineConf, ApiConf, StreamsConf, TenantsConf]
    owned = [key for section in sections for key in section.names()]
    assert len(owned) == len(set(owned)), "no key belongs to two sections"


def test_an_unknown_key_fails_the_start_up_check_and_the_loader(settings) -> None:
    settings.JOBS = {**settings.JOBS, "LEASE_SECONDSS": 5}
    assert any("LEASE_SECONDSS" in msg for msg in _errors("jobs.E002"))
    with pytest.raises(ValueError, match="LEASE_SECONDSS"):
        conf()


@pytest.mark.parametrize(("section", "key", "check"), [
    (EngineConf, "POLL_SECONDS", "jobs.E002"),
    (StreamsConf, "SSE_BATCH", "jobs.E004"),
    (ApiConf, "API_MAX_BODY_BYTES", "jobs.E005"),
    (TenantsConf, "API_RATE_WINDOW_SECONDS", "tenants.E001"),
])
def test_a_zero_where_a_value_must_be_positive_is_refused_at_start_up(settings, section, key, check) -> None:
    settings.JOBS = {**settings.JOBS, key: 0}
    assert f"JOBS['{key}'] must be positive" in problems(section)
    assert f"JOBS['{key}'] must be positive" in _errors(check)


def test_a_value_that_does_not_parse_is_a_check_error_not_a_crash(settings) -> None:
    settings.JOBS_ENV = {"PRUNE_BATCH": "soon"}
    assert any("Invalid JOBS setting" in msg for msg in _errors("jobs.E002"))


def test_model_defaults_are_the_conf_defaults() -> None:
    from jobs.models import Task

    for field, key in (("queue", "DEFAULT_QUEUE"), ("priority", "DEFAULT_PRIORITY"),
                       ("max_retries", "DEFAULT_MAX_RETRIES"), ("timeout", "DEFAULT_TIMEOUT")):
        assert Task._meta.get_field(field).default == EngineConf.default(key)


def test_a_result_limit_above_the_write_bound_is_refused_at_start_up(settings) -> None:
    settings.JOBS = {**settings.JOBS, "MAX_RESULT_BYTES": 8 * 2**20, "MAX_WRITE_BYTES": 4 * 2**20}
    assert any("MAX_RESULT_BYTES'] must be at most MAX_WRITE_BYTES" in msg for msg in _errors("jobs.E002"))
    settings.JOBS = {**settings.JOBS, "MAX_WRITE_BYTES": 0}
    assert "JOBS['MAX_WRITE_BYTES'] must be positive" in _errors("jobs.E002")
