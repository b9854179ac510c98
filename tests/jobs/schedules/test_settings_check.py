"""``manage.py check`` refuses a ``JOBS["SCHEDULES"]`` entry it can judge without the database."""

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from jobs.checks import check_schedules

pytestmark = pytest.mark.django_db

GOOD = {"tenant": "acme", "type": "noop", "every": "30s"}


@pytest.mark.parametrize(("spec", "named"), [
    ({**GOOD, "every": None, "cron": "61 * * * *"}, "cron"),
    ({**GOOD, "every": "soon"}, "every"),
    ({**GOOD, "tz": "Mars/Olympus"}, "timezone"),
    ({**GOOD, "missed": "never"}, "missed"),
    ({**GOOD, "colour": "red"}, "colour"),
    ({"tenant": "acme", "type": "noop"}, "cron"),
    ("every 30s", "definition"),
])
def test_a_bad_definition_is_a_check_error_naming_the_field(settings: Any, spec: Any, named: str) -> None:
    settings.JOBS = {"SCHEDULES": {"good": GOOD, "bad": spec}}
    [error] = check_schedules()
    assert error.id == "jobs.E006" and error.msg.startswith(f"JOBS['SCHEDULES']['bad']: {named}: ")
    with pytest.raises(SystemCheckError, match=r"jobs\.E006"):
        call_command("check")


def test_good_definitions_pass(settings: Any) -> None:
    settings.JOBS = {"SCHEDULES": {"nightly": {**GOOD, "every": None, "cron": "30 2 * * *", "tz": "Europe/Berlin"},
                                   "often": GOOD}}
    assert check_schedules() == []
    settings.JOBS = {"SCHEDULES": ["not", "a", "dict"]}
    assert [e.id for e in check_schedules()] == ["jobs.E006"]
