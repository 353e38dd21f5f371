"""The sweep of lost task workers and the pool the Monitor shows."""

import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from mlframework.events.models import Event
from mlframework.processes import services
from mlframework.processes.models import STALE_AFTER, Worker
from mlframework.processes.signals import swept

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_worker_beating_in_a_live_process_is_left_alone(make_worker):
    worker = make_worker()
    assert services.sweep().lost == []
    worker.refresh_from_db()
    assert worker.state == "running" and worker.is_up()


def test_a_silent_worker_is_marked_lost_with_an_event(make_worker):
    old = timezone.now() - STALE_AFTER - timedelta(seconds=5)
    worker = make_worker(host="elsewhere", beat=old, task_id="x", task_name="t.job")
    result = services.sweep()
    assert [w.worker_id for w in result.lost] == [worker.worker_id]
    worker.refresh_from_db()
    assert worker.state == "lost" and worker.stopped is not None
    event = Event.objects.using("events").get(kind="worker.lost")
    assert event.level == "error"
    assert re.search(r"no heartbeat for 6\d s", event.message), event.message
    assert "running task t.job" in event.message
    assert services.sweep().lost == []  # once


def test_a_worker_of_another_host_within_its_beat_is_not_judged_by_pid(make_worker):
    make_worker(host="elsewhere", pid=_dead_pid())
    assert services.sweep().lost == []


def test_a_dead_process_on_this_host_is_lost_at_once(make_worker):
    worker = make_worker(pid=_dead_pid())
    assert [w.pk for w in services.sweep().lost] == [worker.pk]
    assert "process" in Event.objects.using("events").get(kind="worker.lost").message


def test_a_pid_taken_by_another_process_is_lost(make_worker):
    # Our own pid, but a start time that is not ours: the worker it was died.
    worker = make_worker(started=timezone.now() - timedelta(hours=3))
    assert [w.pk for w in services.sweep().lost] == [worker.pk]


def test_a_task_held_by_a_lost_worker_is_failed(make_worker, claimed_task):
    gone = make_worker(pid=_dead_pid())
    alive = make_worker()
    orphan = claimed_task(gone)
    running = claimed_task(alive)
    result = services.sweep()
    assert result.tasks_failed == 1
    orphan.refresh_from_db()
    running.refresh_from_db()
    assert orphan.status == "FAILED"
    assert orphan.exception_class_path.endswith("services.WorkerStopped")
    assert f"its worker stopped ({gone.where})" in orphan.traceback
    assert running.status == "RUNNING"


def test_a_task_claimed_by_an_unknown_worker_is_left_running(claimed_task, db):
    unknown = Worker(worker_id="plain-db-worker")  # a db_worker without heartbeat
    task = claimed_task(unknown)
    assert services.sweep().tasks_failed == 0
    task.refresh_from_db()
    assert task.status == "RUNNING"


def test_stopped_holders_maps_tasks_to_their_stopped_worker(make_worker, claimed_task):
    stopped = make_worker(state="stopped", stopped=timezone.now())
    alive = make_worker()
    first, second = claimed_task(stopped, "FAILED"), claimed_task(alive)
    holders = services.stopped_holders([first.id, str(second.id), ""])
    assert list(holders) == [str(first.id)]
    assert holders[str(first.id)].pk == stopped.pk
    assert services.stopped_holders([]) == {}


def test_rows_of_workers_gone_for_a_week_are_deleted(make_worker):
    now = timezone.now()
    old = make_worker(state="stopped", stopped=now - timedelta(days=8))
    recent = make_worker(state="lost", stopped=now - timedelta(days=1))
    services.sweep()
    assert not Worker.objects.filter(pk=old.pk).exists()
    assert Worker.objects.filter(pk=recent.pk).exists()


def test_every_sweep_sends_the_signal_with_the_lost_workers(make_worker):
    received = []

    def receiver(sender, lost, **kwargs):
        received.append([w.pk for w in lost])

    swept.connect(receiver)
    try:
        worker = make_worker(pid=_dead_pid())
        services.sweep()
        services.sweep()
    finally:
        swept.disconnect(receiver)
    assert received == [[worker.pk], []]


def test_the_pool_says_who_is_up_down_and_what_waits(make_worker, claimed_task):
    from registry.jobs import analyse_version

    now = timezone.now()
    up = make_worker()
    silent = make_worker(host="elsewhere", beat=now - STALE_AFTER * 2)
    lost = make_worker(state="lost", stopped=now - timedelta(minutes=5))
    make_worker(state="stopped", stopped=now - timedelta(hours=2))  # not shown
    analyse_version.enqueue(1)
    analyse_version.enqueue(2)
    claimed_task(up)  # running: not waiting
    pool = services.pool()
    assert [w.pk for w in pool.up] == [up.pk]
    assert {w.pk for w in pool.down} == {silent.pk, lost.pk}
    assert pool.queued == 2
    assert len(pool.workers) == 3
    assert DBTaskResult.objects.count() == 3
