"""The heartbeat of a task worker, in this process (its thread included)."""

import time

import pytest
from django.utils import timezone
from django_tasks.signals import task_finished, task_started
from django_tasks_db.models import DBTaskResult

from mlframework.events.models import Event
from mlframework.processes.heartbeat import Heartbeat
from mlframework.processes.models import Worker

pytestmark = pytest.mark.django_db(databases=["default", "events"], transaction=True)


def _wait(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def heartbeat():
    beating = Heartbeat("test:beating", every=0.2)
    yield beating
    if beating._thread is not None and beating._thread.is_alive():
        beating.stop()


def test_start_registers_this_process_and_beats(heartbeat):
    worker = heartbeat.start()
    assert worker.state == "running" and worker.is_up()
    first = worker.beat
    assert _wait(lambda: Worker.objects.get(pk=worker.pk).beat > first)
    kinds = Event.objects.using("events").values_list("kind", flat=True)
    assert "worker.started" in kinds


def test_the_current_task_is_on_the_row_while_it_runs(heartbeat):
    from registry.jobs import analyse_version

    worker = heartbeat.start()
    result = analyse_version.enqueue(7)
    stored = DBTaskResult.objects.get(id=result.id)
    task_started.send(sender=None, task_result=stored.task_result)
    assert _wait(lambda: Worker.objects.get(pk=worker.pk).task_id == str(result.id))
    row = Worker.objects.get(pk=worker.pk)
    assert row.task_name == "registry.jobs.analyse_version"
    assert row.task_started is not None
    task_finished.send(sender=None, task_result=stored.task_result)
    assert _wait(lambda: Worker.objects.get(pk=worker.pk).task_id == "")


def test_stop_marks_the_row_stopped_and_ends_the_thread(heartbeat):
    worker = heartbeat.start()
    heartbeat.stop()
    assert not heartbeat._thread.is_alive()
    worker.refresh_from_db()
    assert worker.state == "stopped" and worker.stopped is not None
    assert not worker.is_up()
    assert "worker.stopped" in Event.objects.using("events").values_list(
        "kind", flat=True
    )


def test_a_worker_marked_lost_that_still_beats_is_running_again(heartbeat):
    worker = heartbeat.start()
    Worker.objects.filter(pk=worker.pk).update(state="lost", stopped=timezone.now())
    assert _wait(lambda: Worker.objects.get(pk=worker.pk).state == "running")
    assert Worker.objects.get(pk=worker.pk).stopped is None


def test_the_heartbeat_survives_a_failing_beat(heartbeat, monkeypatch):
    worker = heartbeat.start()
    calls = []
    real = Heartbeat.beat

    def flaky(self):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        real(self)

    monkeypatch.setattr(Heartbeat, "beat", flaky)
    before = Worker.objects.get(pk=worker.pk).beat
    assert _wait(lambda: Worker.objects.get(pk=worker.pk).beat > before)
    assert len(calls) >= 2 and heartbeat._thread.is_alive()
