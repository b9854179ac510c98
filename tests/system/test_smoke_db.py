import pytest
from django.db import connection

from jobs.lifecycle import Status
from jobs.models import Task
from jobs.services.enqueue import enqueue


@pytest.mark.django_db(transaction=True)
def test_enqueue_lands_in_the_configured_database(tenant, servers):
    task = enqueue("noop", tenant=tenant)
    assert Task.objects.get(pk=task.pk).status == Status.PENDING
    assert connection.vendor == ("mysql" if servers["backend"] == "mariadb" else "sqlite")
