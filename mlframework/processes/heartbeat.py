"""The heartbeat a task worker writes from a thread while it runs."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading

import psutil
from django.db import connections
from django.utils import timezone
from django_tasks.signals import task_finished, task_started

from mlframework.events.log import log_event
from mlframework.processes import services
from mlframework.processes.models import BEAT_SECONDS, Worker

logger = logging.getLogger(__name__)


class Heartbeat:
    """The Worker row of this process: registered by `start`, beaten every
    `every` seconds (with a sweep of the other workers), closed by `stop`."""

    def __init__(self, worker_id: str, every: float = BEAT_SECONDS) -> None:
        self.worker_id = worker_id
        self.every = every
        self._task: tuple[str, str, dt.datetime | None] = ("", "", None)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Worker:
        now = timezone.now()
        # The process's own start time: how a later sweep tells this pid from
        # another process that took it after this one died.
        started = dt.datetime.fromtimestamp(psutil.Process().create_time(), tz=dt.UTC)
        worker = Worker.objects.create(
            worker_id=self.worker_id,
            host=services.host_name(),
            pid=os.getpid(),
            started=started,
            beat=now,
        )
        log_event(
            services.SOURCE,
            "worker.started",
            f"Task worker {worker.where} started",
            data={"worker": worker.worker_id, "pid": worker.pid, "host": worker.host},
        )
        # A worker that was killed left its tasks running: fail them now.
        self._sweep()
        task_started.connect(self._on_task_started)
        task_finished.connect(self._on_task_finished)
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()
        return worker

    def stop(self) -> None:
        task_started.disconnect(self._on_task_started)
        task_finished.disconnect(self._on_task_finished)
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every + 30)
        now = timezone.now()
        Worker.objects.filter(worker_id=self.worker_id).update(
            state=Worker.State.STOPPED, stopped=now, beat=now
        )
        log_event(
            services.SOURCE,
            "worker.stopped",
            f"Task worker {services.host_name()} pid {os.getpid()} stopped",
            data={"worker": self.worker_id, "pid": os.getpid()},
        )
        # A task it was running when told to stop at once is orphaned now.
        self._sweep()

    def beat(self) -> None:
        task_id, task_name, task_started_at = self._task
        fields = {
            "beat": timezone.now(),
            "task_id": task_id,
            "task_name": task_name,
            "task_started": task_started_at,
        }
        alive = Worker.objects.filter(
            worker_id=self.worker_id, state=Worker.State.RUNNING
        ).update(**fields)
        if not alive:
            # Marked lost while this process was frozen or cut off from the
            # database: it runs, so it says so again.
            logger.warning("worker %s was marked lost; running again", self.worker_id)
            Worker.objects.filter(worker_id=self.worker_id).update(
                state=Worker.State.RUNNING, stopped=None, **fields
            )

    def _on_task_started(self, sender, task_result, **kwargs) -> None:
        self._task = (str(task_result.id), task_result.task.module_path, timezone.now())
        self._wake.set()

    def _on_task_finished(self, sender, task_result, **kwargs) -> None:
        self._task = ("", "", None)
        self._wake.set()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._wake.wait(self.every)
                self._wake.clear()
                if self._stopping.is_set():
                    break
                try:
                    self.beat()
                except Exception:
                    # A locked or unreachable database must not end the
                    # heartbeat: the next beat tries again.
                    logger.exception("heartbeat of worker %s failed", self.worker_id)
                    connections.close_all()
                    continue
                self._sweep()
        finally:
            connections.close_all()

    def _sweep(self) -> None:
        try:
            services.sweep()
        except Exception:
            logger.exception("sweep of the task workers failed")
