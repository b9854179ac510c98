import pytest
from django.db import connection

from jobs.enqueueing import enqueue
from jobs.models import Status, Task


@pytest.mark.django_db(transaction=True)
def test_enqueue_lands_in_the_configured_database(tenant, servers):
    task = enqueue("noop", tenant=tenant)
    assert Task.objects.get(pk=task.pk).status == Status.PENDING
    assert connection.vendor == ("mysql" if servers["backend"] == "mariadb" else "sqlite")
