"""Dispatch definitions and their runs.

A Dispatch is a scheduled batch prediction: rows from a source query, scored
by a model version (or the version behind an alias), written to a sink table.
The database is the source of truth; dispatch/crontab.py mirrors the enabled
ones into the crontab.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import NamedTuple

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dispatch import schedule
from mlframework.core import executors


class SinkMode(models.TextChoices):
    APPEND = "append", _("Append the predictions")
    REPLACE_RUN_KEY = "replace_run_key", _("Replace the rows of the same run key")
    REPLACE_ALL = "replace_all", _("Replace every row of the table")


class ScheduleStatus(models.TextChoices):
    PAUSED = "paused", _("Paused")
    WAITING = "waiting", _("Waiting")  # nothing was due since it was enabled
    ON_TIME = "on_time", _("On time")
    DUE = "due", _("Due")  # due, still within its grace time
    LATE = "late", _("Late")
    MISSED = "missed", _("Missed")
    NEVER_FIRES = "never_fires", _("Never fires")


# The statuses the Monitor flags and alerts on.
FLAGGED_STATUSES = (
    ScheduleStatus.LATE,
    ScheduleStatus.MISSED,
    ScheduleStatus.NEVER_FIRES,
)


class ScheduleTiming(NamedTuple):
    status: ScheduleStatus
    due: dt.datetime | None  # the slot the status is about


class Dispatch(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    model = models.ForeignKey(
        "registry.RegisteredModel",
        on_delete=models.PROTECT,
        related_name="dispatches",
        verbose_name=_("model"),
    )
    version_ref = models.CharField(
        _("version"),
        max_length=64,
        default="production",
        help_text=_("An alias (production) or a version number (3)."),
    )
    source_datasource = models.CharField(_("source datasource"), max_length=64)
    source_query = models.TextField(_("source query"))
    sink_datasource = models.CharField(_("sink datasource"), max_length=64)
    sink_table = models.CharField(_("sink table"), max_length=64)
    sink_mode = models.CharField(
        _("sink mode"), max_length=20, choices=SinkMode.choices, default=SinkMode.APPEND
    )
    create_table = models.BooleanField(
        _("create table"),
        default=True,
        help_text=_("Create the sink table when it does not exist."),
    )
    run_key_format = models.CharField(
        _("run key format"),
        max_length=64,
        default="%Y-%m-%d",
        help_text=_(
            "strftime pattern over the scheduled time in the dispatch's "
            "timezone; written to the run_key column."
        ),
    )
    key_columns = models.JSONField(_("key columns"), default=list, blank=True)
    # Empty: one query, streamed as far as the driver allows. A column name:
    # the source is read in pages of chunk_size rows ordered by it (one query
    # per page, one transaction), so memory stays one page even with drivers
    # that hold a whole result before the first row (MariaDB Connector/ODBC
    # 3.1.15, the one in Debian 12). odbc.read_pages checks it is a unique
    # integer key.
    page_by = models.CharField(
        _("page by"),
        max_length=64,
        blank=True,
        help_text=_(
            "Read the source in pages ordered by this unique integer "
            "column (e.g. the primary key); for large MariaDB/MySQL sources."
        ),
    )
    include_probabilities = models.BooleanField(
        _("include probabilities"), default=False
    )
    cron = models.CharField(_("cron expression"), max_length=100)
    timezone = models.CharField(_("timezone"), max_length=64, default="UTC")
    enabled = models.BooleanField(_("enabled"), default=True)
    # When it was last enabled: time spent paused never counts as missed runs.
    enabled_at = models.DateTimeField(
        _("enabled at"), null=True, blank=True, editable=False
    )
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("paused by"),
    )
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    pause_reason = models.CharField(_("pause reason"), max_length=500, blank=True)
    retries = models.PositiveSmallIntegerField(_("retries"), default=0)
    retry_backoff_seconds = models.PositiveIntegerField(
        _("retry backoff (seconds)"), default=60
    )
    # Rows per pipeline chunk. Smaller chunks fill and drain the read ->
    # predict -> write pipeline sooner and hold fewer rows in flight; 10,000
    # measured faster than 50,000 on 100k-row runs and 40 MB lighter at 1M
    # (bench/RESULTS.md, "Dispatch: what was tried next").
    chunk_size = models.PositiveIntegerField(
        _("chunk size"),
        default=10_000,
        help_text=_("Rows read, predicted and written per step of the pipeline."),
    )
    grace_minutes = models.PositiveIntegerField(_("grace (minutes)"), default=10)
    # Where its runs execute ("" = executors.default) and, on Slurm, what the
    # job asks for beyond executors.slurm (empty/null: the configured value).
    executor = models.CharField(_("executor"), max_length=10, blank=True, default="")
    slurm_partition = models.CharField(_("Slurm partition"), max_length=64, blank=True)
    slurm_cpus = models.PositiveSmallIntegerField(
        _("Slurm CPUs"), null=True, blank=True
    )
    slurm_memory = models.CharField(_("Slurm memory"), max_length=16, blank=True)
    slurm_time_limit = models.PositiveIntegerField(
        _("Slurm time limit"), null=True, blank=True, help_text=_("Minutes.")
    )
    # The run that holds this dispatch; set and cleared by conditional
    # UPDATEs so that overlapping invocations cannot both run.
    claimed_run_id = models.BigIntegerField(
        _("claimed by run ID"), null=True, blank=True, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("dispatch")
        verbose_name_plural = _("dispatches")

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if self.enabled and self.enabled_at is None:
            self.enabled_at = timezone.now()
        super().save(*args, **kwargs)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def next_runs(self, count: int = 5, after: dt.datetime | None = None) -> list:
        """The next times cron fires this dispatch, aware, in its timezone
        (none when the schedule never fires)."""
        return schedule.next_times(self.cron, self.timezone, count, after)

    def next_run(self) -> dt.datetime | None:
        if not self.enabled:
            return None
        runs = self.next_runs(1)
        return runs[0] if runs else None

    def never_fires(self) -> str:
        """Why the schedule has no run in the coming years ("" when it has one).

        The form refuses such schedules; rows saved before that check, or
        written around it, are shown as "never fires" instead of breaking.
        """
        return schedule.never_fires(self.cron, self.timezone)

    def previous_due(self, now: dt.datetime | None = None) -> dt.datetime | None:
        """The last time cron should have fired (now itself when it is due)."""
        return schedule.previous_time(self.cron, self.timezone, now or timezone.now())

    def last_run(self) -> DispatchRun | None:
        return self.runs.order_by("-id").first()

    def watched_since(self) -> dt.datetime:
        """Only time since the dispatch was created, edited or enabled counts
        (enabling does not touch ``updated``)."""
        return max(filter(None, [self.created, self.updated, self.enabled_at]))

    def schedule_timing(self, now: dt.datetime | None = None) -> ScheduleTiming:
        """The schedule's status at ``now`` and the slot it is about.

        *Late*: the last slot plus the grace time has passed and no run has
        started since; *missed*: the next slot has come too and that run
        still never happened.
        """
        now = now or timezone.now()
        if not self.enabled:
            return ScheduleTiming(ScheduleStatus.PAUSED, None)
        if self.never_fires():
            return ScheduleTiming(ScheduleStatus.NEVER_FIRES, None)
        grace = dt.timedelta(minutes=self.grace_minutes)
        latest = self.previous_due(now)
        # The newest slot whose grace time is over: it must have a run by now.
        settled = self.previous_due(now - grace)
        if latest is None or settled is None:
            # It fires soon but has not fired for years.
            return ScheduleTiming(ScheduleStatus.WAITING, None)
        since = self.watched_since()

        def ran_since(moment: dt.datetime) -> bool:
            return self.runs.filter(
                Q(scheduled_for__gte=moment) | Q(created__gte=moment)
            ).exists()

        if settled >= since and not ran_since(settled):
            late = ScheduleStatus.LATE if latest == settled else ScheduleStatus.MISSED
            return ScheduleTiming(late, settled)
        if latest >= since and latest > settled and not ran_since(latest):
            return ScheduleTiming(ScheduleStatus.DUE, latest)
        if latest < since:
            return ScheduleTiming(ScheduleStatus.WAITING, None)
        return ScheduleTiming(ScheduleStatus.ON_TIME, latest)

    def schedule_status(self, now: dt.datetime | None = None) -> ScheduleStatus:
        return self.schedule_timing(now).status

    def describe_schedule(self) -> str:
        return schedule.describe(self.cron, self.timezone)

    def run_key_for(self, when: dt.datetime) -> str:
        return when.astimezone(self.tz).strftime(self.run_key_format)[:64]

    @property
    def uses_slurm(self) -> bool:
        return executors.uses_slurm(self.executor)

    def resources(self) -> executors.Resources:
        return executors.Resources(
            partition=self.slurm_partition,
            cpus=self.slurm_cpus or 0,
            memory=self.slurm_memory,
            time_limit=self.slurm_time_limit or 0,
        )


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")
    CANCELLED = "cancelled", _("Cancelled")


class Trigger(models.TextChoices):
    CRON = "cron", _("Cron")
    MANUAL = "manual", _("Run now")
    RETRY = "retry", _("Retry")


class DispatchRun(models.Model):
    dispatch = models.ForeignKey(
        Dispatch,
        on_delete=models.CASCADE,
        related_name="runs",
        verbose_name=_("dispatch"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    trigger = models.CharField(
        _("trigger"), max_length=10, choices=Trigger.choices, default=Trigger.CRON
    )
    scheduled_for = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    created = models.DateTimeField(_("created"), default=timezone.now)
    started = models.DateTimeField(_("started"), null=True, blank=True)
    finished = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat = models.DateTimeField(_("heartbeat"), null=True, blank=True)
    rows_read = models.BigIntegerField(_("rows read"), default=0)
    rows_written = models.BigIntegerField(_("rows written"), default=0)
    timings = models.JSONField(_("timings"), default=dict, blank=True)
    host = models.CharField(_("host"), max_length=255, blank=True)
    pid = models.IntegerField(_("PID"), null=True, blank=True)
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dispatch_runs",
        verbose_name=_("model version"),
    )
    run_key = models.CharField(_("run key"), max_length=64, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=1)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requested by"),
    )
    executor = models.CharField(_("executor"), max_length=10, default="local")
    # On Slurm: the job, where it ran and Slurm's last word on it (PENDING,
    # RUNNING, TIMEOUT, ...; NOT_SUBMITTED when sbatch failed, LOST when no
    # source knows the job any more).
    slurm_job_id = models.CharField(
        _("Slurm job ID"), max_length=32, blank=True, db_index=True
    )
    slurm_partition = models.CharField(_("Slurm partition"), max_length=64, blank=True)
    slurm_node = models.CharField(_("Slurm node"), max_length=255, blank=True)
    slurm_state = models.CharField(_("Slurm state"), max_length=32, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("dispatch run")
        verbose_name_plural = _("dispatch runs")
        indexes = [
            models.Index(fields=["dispatch", "-id"], name="run_dispatch"),
            models.Index(fields=["status", "-id"], name="run_status"),
            models.Index(fields=["-created"], name="run_created"),
        ]

    def __str__(self) -> str:
        return f"{self.dispatch} run {self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def seconds(self) -> float | None:
        if self.started and self.finished:
            return (self.finished - self.started).total_seconds()
        return None
