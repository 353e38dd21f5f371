"""The task workers seen from outside: which are up, the sweep of lost ones."""

from __future__ import annotations

import datetime as dt
import logging
import socket
from dataclasses import dataclass
from datetime import timedelta

import psutil
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from mlframework.events.log import log_event
from mlframework.processes.models import STALE_AFTER, Worker
from mlframework.processes.signals import swept

SOURCE = "processes"
# Rows of workers gone this long are deleted by the sweep; the pool shows
# those gone for less than SHOWN_FOR.
FORGET_AFTER = timedelta(days=7)
SHOWN_FOR = timedelta(hours=1)
logger = logging.getLogger(__name__)


class WorkerStopped(Exception):
    """Recorded on a task whose worker stopped while running it."""


def host_name() -> str:
    return socket.gethostname()


def process_started(pid: int) -> dt.datetime | None:
    """When process `pid` of this host started, None if there is none (or a zombie)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return dt.datetime.fromtimestamp(process.create_time(), tz=dt.UTC)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _gone(worker: Worker, now: dt.datetime, host: str) -> str:
    """Why `worker` is not running any more, or "" if it may be."""
    if worker.beat < now - STALE_AFTER:
        seconds = int(worker.seconds_since_beat(now))
        return f"no heartbeat for {seconds} s"
    if worker.host == host:
        # On this host the process table answers at once; a pid taken by
        # another process since has another start time.
        started = process_started(worker.pid)
        if started is None or abs((started - worker.started).total_seconds()) > 2:
            return f"process {worker.pid} is gone"
    return ""


@dataclass(frozen=True)
class Sweep:
    lost: list[Worker]
    tasks_failed: int


def sweep(now: dt.datetime | None = None) -> Sweep:
    """Mark workers whose heartbeat stopped as lost, fail the tasks they held,
    and tell the apps tracking their own tasks (the `swept` signal)."""
    now = now or timezone.now()
    host = host_name()
    lost = []
    for worker in Worker.objects.filter(state=Worker.State.RUNNING):
        reason = _gone(worker, now, host)
        if not reason:
            continue
        marked = Worker.objects.filter(pk=worker.pk, state=Worker.State.RUNNING).update(
            state=Worker.State.LOST, stopped=now
        )
        if not marked:
            continue  # another sweep got there first
        worker.state, worker.stopped = Worker.State.LOST, now
        lost.append(worker)
        task = f", running task {worker.task_name}" if worker.task_id else ""
        log_event(
            SOURCE,
            "worker.lost",
            f"Task worker {worker.where} stopped ({reason}{task})",
            level="error",
            data={"worker": worker.worker_id, "pid": worker.pid, "host": worker.host},
        )
    failed = fail_orphaned_tasks(now)
    Worker.objects.exclude(state=Worker.State.RUNNING).filter(
        stopped__lt=now - FORGET_AFTER
    ).delete()
    swept.send(sender=Worker, lost=lost)
    return Sweep(lost, failed)


def fail_orphaned_tasks(now: dt.datetime) -> int:
    """Tasks still "running" on a worker that is not: failed, so the task
    list says so (django-tasks leaves them running for ever)."""
    stopped = stopped_holders(
        DBTaskResult.objects.running().values_list("id", flat=True)
    )
    failed = 0
    for task_id, worker in stopped.items():
        # Its worker is gone, so nothing else writes this row.
        task = DBTaskResult.objects.running().filter(id=task_id).first()
        if task is None:
            continue
        task.set_failed(
            WorkerStopped(f"its worker stopped ({worker.where}) while running it")
        )
        failed += 1
    return failed


def stopped_holders(task_ids) -> dict[str, Worker]:
    """For each task id whose last claiming worker is no longer running: that
    worker. Tasks claimed by no known worker are left out."""
    wanted = [str(task_id) for task_id in task_ids if task_id]
    claims = {
        str(task_id): worker_ids[-1]
        for task_id, worker_ids in DBTaskResult.objects.filter(
            id__in=wanted
        ).values_list("id", "worker_ids")
        if worker_ids
    }
    workers = {
        w.worker_id: w
        for w in Worker.objects.filter(worker_id__in=set(claims.values())).exclude(
            state=Worker.State.RUNNING
        )
    }
    return {
        task_id: workers[worker_id]
        for task_id, worker_id in claims.items()
        if worker_id in workers
    }


@dataclass(frozen=True)
class Pool:
    up: list[Worker]
    down: list[Worker]  # stopped or lost within SHOWN_FOR, or silent
    queued: int  # tasks ready to run, waiting for a worker
    at: dt.datetime

    @property
    def workers(self) -> list[Worker]:
        return self.up + self.down


def pool(now: dt.datetime | None = None) -> Pool:
    now = now or timezone.now()
    recent = Worker.objects.filter(state=Worker.State.RUNNING) | Worker.objects.filter(
        stopped__gte=now - SHOWN_FOR
    )
    up, down = [], []
    for worker in recent.order_by("-started"):
        (up if worker.is_up(now) else down).append(worker)
    queued = DBTaskResult.objects.ready().count()
    return Pool(up, down, queued, now)
