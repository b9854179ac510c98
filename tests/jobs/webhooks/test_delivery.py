"""Deliveries end to end: a real worker runs a task, its outcome becomes a delivery task in the same
transaction, the worker POSTs it to a receiver on loopback, which verifies the signature."""

from typing import Any

import pytest

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.models.webhooks import DELIVERY_TYPE
from jobs.services import webhooks
from jobs.services.enqueue import enqueue
from tests.support.waiting import wait_for
from tests.support.webhooks import receiver, verify


def deliveries() -> list[Task]:
    return list(Task.objects.filter(type=DELIVERY_TYPE).order_by("id"))


def test_a_completed_task_is_delivered_signed(tenant: Any, inprocess_worker: Any) -> None:
    with receiver() as hook_receiver:
        hook, secret = webhooks.create(tenant, hook_receiver.url, ["task.completed"])
        task = enqueue("noop", tenant=tenant)
        inprocess_worker.start(threads=2)
        wait_for(lambda: hook_receiver.received, what="a delivery")
        wait_for(lambda: all(t.status == Status.COMPLETED for t in deliveries()), what="the delivery's end")
        inprocess_worker.stop()
    [got] = hook_receiver.received
    assert verify(secret, got.headers["webhook-signature"], got.body)
    assert not verify("whsec_other", got.headers["webhook-signature"], got.body)
    body = got.json
    assert body["event"] == "task.completed"
    assert body["task"]["id"] == task.pk and body["task"]["status"] == "completed"
    assert body["task"]["tenant"] == tenant.slug
    [delivery] = deliveries()
    assert body["id"] == delivery.pk == int(got.headers["webhook-id"])
    assert delivery.tenant_id == tenant.pk and delivery.concurrency_key == hook.concurrency_key
    # The delivery's own completion is not an event of any endpoint: no delivery of a delivery.
    assert len(deliveries()) == 1


def test_a_500_is_retried_until_the_endpoint_answers_2xx(tenant: Any, inprocess_worker: Any) -> None:
    with receiver(script=[500, 503]) as hook_receiver:
        _, secret = webhooks.create(tenant, hook_receiver.url, ["task.failed", "task.completed"])
        enqueue("noop", tenant=tenant)
        inprocess_worker.start(threads=2)
        wait_for(lambda: [t for t in deliveries() if t.status == Status.COMPLETED], what="a delivery to succeed")
        inprocess_worker.stop()
    assert [r.status for r in hook_receiver.received] == [500, 503, 200]
    # Every attempt is the same delivery, signed afresh.
    assert len({r.json["id"] for r in hook_receiver.received}) == 1
    assert all(verify(secret, r.headers["webhook-signature"], r.body) for r in hook_receiver.received)
    [delivery] = deliveries()
    assert delivery.attempts == 3
    assert [e["message"][:8] for e in delivery.errors] == ["HTTP 500", "HTTP 503"]


def test_events_not_subscribed_and_other_tenants_send_nothing(tenant: Any, other_tenant: Any,
                                                               inprocess_worker: Any) -> None:
    with receiver() as hook_receiver:
        webhooks.create(tenant, hook_receiver.url, ["task.failed"])
        enqueue("noop", tenant=tenant)  # completes: not subscribed
        enqueue("fail", tenant=other_tenant, payload={"permanent": True})  # fails, but of another tenant
        inprocess_worker.burst(threads=2)
    assert hook_receiver.received == []
    assert deliveries() == []


@pytest.mark.parametrize("event", ["task.failed", "task.cancelled"])
def test_failed_and_cancelled_outcomes(tenant: Any, inprocess_worker: Any, event: str) -> None:
    from jobs.services import control

    with receiver() as hook_receiver:
        webhooks.create(tenant, hook_receiver.url, [event])
        if event == "task.failed":
            enqueue("fail", tenant=tenant, payload={"permanent": True})
        else:
            control.cancel(enqueue("noop", tenant=tenant, delay_seconds=3600).pk)
        inprocess_worker.start(threads=2)
        wait_for(lambda: hook_receiver.received, what="a delivery")
        inprocess_worker.stop()
    assert [r.json["event"] for r in hook_receiver.received] == [event]


def test_a_delivery_queued_before_its_endpoint_was_deleted_sends_nothing(tenant: Any, inprocess_worker: Any) -> None:
    with receiver() as hook_receiver:
        hook, _ = webhooks.create(tenant, hook_receiver.url, ["task.completed"])
        enqueue("noop", tenant=tenant, queue="work")
        inprocess_worker.burst(threads=1, queues=["work"])  # the delivery waits in the default queue
        [queued] = deliveries()
        assert queued.status == Status.PENDING
        webhooks.delete(hook)
        inprocess_worker.burst(threads=2)
    assert hook_receiver.received == []
    [delivery] = deliveries()
    assert delivery.status == Status.COMPLETED and delivery.result["sent"] is False


def test_a_delivery_connects_to_the_checked_address_and_names_the_host() -> None:
    """What the guard checked is where the bytes go: the name is only the Host header (and TLS's SNI)."""
    from jobs.contrib.webhooks import DeliveryFailed, send
    from jobs.services.webhooks import Target

    with receiver(script=[200, 302]) as hook_receiver:
        target = Target("http", "hooks.example.invalid", hook_receiver.port, "/in?x=1", "127.0.0.1")
        assert send(target, b"{}", {"Content-Type": "application/json"}) == 200
        with pytest.raises(DeliveryFailed, match="HTTP 302"):  # a redirect is not followed: a failed attempt
            send(target, b"{}", {})
    first = hook_receiver.received[0]
    assert first.headers["host"] == f"hooks.example.invalid:{hook_receiver.port}" and first.body == b"{}"


def test_an_unreachable_endpoint_fails_the_attempt() -> None:
    from jobs.contrib.webhooks import DeliveryFailed, send
    from jobs.services.webhooks import Target

    with receiver() as closed:
        port = closed.port
    with pytest.raises(DeliveryFailed, match="ConnectionRefusedError"):
        send(Target("http", "localhost", port, "/", "127.0.0.1"), b"{}", {})
