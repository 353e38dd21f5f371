import datetime as dt
import os

import psutil
import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from mlframework.processes import services
from mlframework.processes.models import Worker


@pytest.fixture
def make_worker(db):
    """A Worker row; by default this very process, beating now."""
    counter = iter(range(1, 1000))

    def make(**fields) -> Worker:
        now = timezone.now()
        me = dt.datetime.fromtimestamp(psutil.Process().create_time(), tz=dt.UTC)
        values = {
            "worker_id": f"test:{next(counter)}",
            "host": services.host_name(),
            "pid": os.getpid(),
            "started": me,
            "beat": now,
            **fields,
        }
        return Worker.objects.create(**values)

    return make


@pytest.fixture
def claimed_task(db):
    """A task result as django-tasks leaves it once `worker_id` claimed it."""

    def claim(worker: Worker, status: str = "RUNNING") -> DBTaskResult:
        from registry.jobs import analyse_version

        result = analyse_version.enqueue(0)
        DBTaskResult.objects.filter(id=result.id).update(
            status=status, worker_ids=[worker.worker_id], started_at=timezone.now()
        )
        return DBTaskResult.objects.get(id=result.id)

    return claim
