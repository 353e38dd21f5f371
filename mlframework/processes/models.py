from datetime import timedelta

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# A worker beats every BEAT_SECONDS; one silent for STALE_AFTER is lost. The
# sweep runs at every beat of any live worker, so a job of a lost worker is
# failed within STALE_AFTER + BEAT_SECONDS (README, Task workers).
BEAT_SECONDS = 10.0
STALE_AFTER = timedelta(seconds=60)


class Worker(models.Model):
    """One task worker process (`manage.py task_worker`) and its heartbeat."""

    class State(models.TextChoices):
        RUNNING = "running", _("Running")
        STOPPED = "stopped", _("Stopped")  # it exited by itself
        LOST = "lost", _("Lost")  # its heartbeat stopped: killed, or its host died

    # The id django-tasks records on each task it claims (DBTaskResult.worker_ids).
    worker_id = models.CharField(_("worker ID"), max_length=64, unique=True)
    host = models.CharField(_("host"), max_length=255)
    pid = models.IntegerField(_("PID"))
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.RUNNING
    )
    started = models.DateTimeField(_("started"))
    beat = models.DateTimeField(_("last heartbeat"))
    stopped = models.DateTimeField(_("stopped"), null=True, blank=True)
    task_id = models.CharField(_("task ID"), max_length=64, blank=True)
    task_name = models.CharField(_("task name"), max_length=255, blank=True)
    task_started = models.DateTimeField(_("task started"), null=True, blank=True)

    class Meta:
        verbose_name = _("task worker")
        verbose_name_plural = _("task workers")
        ordering = ["-started"]
        indexes = [models.Index(fields=["state", "beat"])]

    def __str__(self) -> str:
        return f"task worker {self.where}"

    @property
    def where(self) -> str:
        return f"{self.host} pid {self.pid}"

    def is_up(self, now=None) -> bool:
        now = now or timezone.now()
        return self.state == self.State.RUNNING and self.beat >= now - STALE_AFTER

    def seconds_since_beat(self, now=None) -> float:
        return max(0.0, ((now or timezone.now()) - self.beat).total_seconds())
