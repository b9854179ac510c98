"""The trigger: an outcome becomes a delivery task in its own transaction (both commit or neither), for
the tenant's active endpoints subscribed to its event; a batch of tenants without endpoints costs no query."""

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from jobs.lifecycle import Status
from jobs.models import Event, Task
from jobs.models.webhooks import DELIVERY_TYPE
from jobs.services import control, webhooks
from jobs.services.enqueue import enqueue
from jobs.store import webhooks as subscriptions

pytestmark = pytest.mark.django_db(transaction=True)

URL = "http://127.0.0.1:9/hook"


class Rollback(Exception):
    pass


def deliveries() -> list[Task]:
    return list(Task.objects.filter(type=DELIVERY_TYPE))


def test_an_outcome_and_its_delivery_commit_together(tenant: Any) -> None:
    hook, _ = webhooks.create(tenant, URL, ["task.cancelled"])
    waiting = enqueue("noop", tenant=tenant, delay_seconds=3600)
    with pytest.raises(Rollback), transaction.atomic():
        control.cancel(waiting.pk)
        assert len(deliveries()) == 1
        raise Rollback
    assert deliveries() == [] and Task.objects.get(pk=waiting.pk).status == Status.SCHEDULED
    control.cancel(waiting.pk)
    [delivery] = deliveries()
    assert delivery.status == Status.PENDING and delivery.tenant_id == tenant.pk
    assert delivery.payload["webhook"] == hook.pk and delivery.payload["task"] == waiting.pk
    assert delivery.payload["event"] == "task.cancelled"
    assert delivery.concurrency_key == hook.concurrency_key and delivery.concurrency_limit == 4
    # Its creation is in the outbox with the cancel, so the live streams show it.
    created = [c for e in Event.objects.all() for c in e.changes if c["task"] == delivery.pk]
    assert [c["event"] for c in created] == ["task.created"]


def test_each_subscribed_active_endpoint_gets_one(tenant: Any, other_tenant: Any) -> None:
    webhooks.create(tenant, URL, ["task.cancelled"])
    webhooks.create(tenant, URL + "2", ["task.cancelled", "task.completed"])
    webhooks.create(tenant, URL + "3", ["task.completed"])  # another event
    off, _ = webhooks.create(tenant, URL + "4", ["task.cancelled"])
    off.active = False
    off.save()
    webhooks.create(other_tenant, URL, ["task.cancelled"])  # another tenant
    control.cancel(enqueue("noop", tenant=tenant, delay_seconds=3600).pk)
    assert sorted(t.payload["webhook"] for t in deliveries()) == sorted(
        h.pk for h in webhooks.of_tenants([tenant.pk]) if h.url in {URL, URL + "2"})


def test_a_delivery_outcome_is_never_delivered(tenant: Any) -> None:
    webhooks.create(tenant, URL, ["task.cancelled"])
    control.cancel(enqueue("noop", tenant=tenant, delay_seconds=3600).pk)
    [delivery] = deliveries()
    control.cancel(delivery.pk)  # a cancelled delivery: task.cancelled, of the delivery type
    assert len(deliveries()) == 1


def test_tenants_without_endpoints_cost_no_query(tenant: Any, other_tenant: Any) -> None:
    webhooks.create(other_tenant, URL, ["task.cancelled"])
    waiting = enqueue("noop", tenant=tenant, delay_seconds=3600)
    subscriptions.subscribed()  # warm, as in a running worker
    with CaptureQueriesContext(connection) as ctx:
        control.cancel(waiting.pk)
    assert not [q for q in ctx.captured_queries if "jobs_webhook" in q["sql"]]
    assert deliveries() == []
