"""A resource's rate holds across real worker processes (two supervisors on MariaDB), measured on
the handlers' own start times: a resource of 5/s never admits more than 5 starts in any second."""

import time

import pytest

from jobs.lifecycle import Status
from jobs.models import Event, Task
from jobs.services import resources
from jobs.services.enqueue import enqueue_many

pytestmark = [pytest.mark.mariadb, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def handler_starts(path) -> list[float]:
    return sorted(float(line.split()[4]) for line in path.read_text().splitlines() if line.startswith("start"))


def test_a_resource_of_5_per_second_never_admits_more_than_5_starts_in_a_second(tenant, other_tenant, workers,
                                                                                 tmp_path):
    rate = 5
    resources.define("partner-api", rate=rate, per_seconds=1)
    log = tmp_path / "runs.log"
    tasks = [e.task for t in (tenant, other_tenant)
             for e in enqueue_many([{"type": "record", "payload": {"log": str(log)}}] * 20, tenant=t)]
    # Set here rather than through the enqueue fields (another item's work).
    Task.objects.filter(pk__in=[t.pk for t in tasks]).update(resource="partner-api")
    # Unlimited work beside it keeps every process claiming.
    enqueue_many([{"type": "record", "payload": {"log": str(tmp_path / "free.log")}}] * 40, tenant=other_tenant)
    for name in ("a", "b"):
        workers.start("--processes", "2", "--threads", "4", env={"INSTANCE_ID": name})
    deadline = time.monotonic() + 90
    while Task.objects.filter(pk__in=[t.pk for t in tasks]).exclude(status=Status.COMPLETED).exists():
        assert time.monotonic() < deadline, workers.log(0) + workers.log(1)
        time.sleep(0.1)
    starts = handler_starts(log)
    assert len(starts) == 40, "each ran once"
    for i in range(len(starts) - rate):
        assert starts[i + rate] - starts[i] >= 1.0, f"{rate + 1} starts within {starts[i + rate] - starts[i]:.3f} s"
    # 40 starts at 5 a second: about 8 s, not much more (the throttled ones were rescheduled to their token).
    assert starts[-1] - starts[0] < 8 * (1 + 0.1) + 3
    throttled = [c for e in Event.objects.all() for c in e.changes if c["event"] == "task.throttled"]
    assert throttled, "tasks waited for their token as scheduled"
    assert all(t.attempts == 1 for t in Task.objects.filter(pk__in=[t.pk for t in tasks])), "waiting is uncharged"
