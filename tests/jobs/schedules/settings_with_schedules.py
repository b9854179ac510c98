"""The test settings plus one ``JOBS["SCHEDULES"]`` entry: what the supervisors of test_processes.py start with."""

from tests.settings import *  # noqa: F403
from tests.settings import JOBS

JOBS = {**JOBS, "SCHEDULES": {"from-settings": {"tenant": "acme", "type": "noop", "every": "1m"}}}
