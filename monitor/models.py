"""What the Monitor remembers between runs: the state of every alert."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone


class Rule(models.TextChoices):
    HOST_DOWN = "host_down", "Host down"
    DATABASE_DOWN = "database_down", "Database down"
    SERVICE_DOWN = "service_down", "Service down"
    CONSECUTIVE_FAILURES = "consecutive_failures", "Consecutive failed runs"
    LOW_ROWS = "low_rows", "Zero or too few rows"
    LATE_RUN = "late_run", "Late or missed run"


class AlertStatus(models.TextChoices):
    OK = "ok", "OK"
    PENDING = "pending", "Failing, within its grace time"
    FIRING = "firing", "Alert sent"


class AlertState(models.Model):
    """One watched condition, e.g. ``host:web`` or ``dispatch:3:failures``.

    An alert is sent when the condition has failed for longer than its grace
    time and is not sent again until the condition has recovered.
    """

    key = models.CharField(max_length=200, unique=True)
    rule = models.CharField(max_length=32, choices=Rule.choices)
    subject = models.CharField(max_length=200)
    # Plain id, not a foreign key: the monitor only reads dispatch state.
    dispatch_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=8, choices=AlertStatus.choices, default=AlertStatus.OK
    )
    failing_since = models.DateTimeField(null=True, blank=True)
    fired_at = models.DateTimeField(null=True, blank=True)
    recovered_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(default=timezone.now)
    detail = models.TextField(blank=True)
    times_fired = models.PositiveIntegerField(default=0)
    delivery_error = models.TextField(blank=True)

    class Meta:
        ordering = ["key"]
        indexes = [models.Index(fields=["status"], name="alertstate_status")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"

    def failing_for(self, now=None) -> timedelta:
        if self.failing_since is None:
            return timedelta(0)
        return (now or timezone.now()) - self.failing_since
