"""Metrics read from the database at scrape time, so every process answers
the same whichever one Prometheus reaches. Each is one aggregate query on an
indexed column (a handful per scrape)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count, F, Sum
from django.utils import timezone
from prometheus_client.core import (
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from dispatch.models import DispatchRun, RunStatus
from mlframework.processes import services as processes
from monitor.models import AlertState, AlertStatus, Rule
from registry.models import TrainingJob

logger = logging.getLogger("mlframework.metrics")


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        ok = GaugeMetricFamily(
            "mlframework_metrics_database_up",
            "1 when the database-derived metrics below could be read.",
        )
        try:
            families = [
                *_dispatch_runs(),
                _dispatch_predictions(),
                _training_jobs(),
                _alerts(),
                *_workers(),
            ]
        except DatabaseError as exc:
            logger.warning("metrics: the database could not be read: %s", exc)
            ok.add_metric([], 0)
            yield ok
            return
        ok.add_metric([], 1)
        yield ok
        yield from families


def _dispatch_runs() -> list[Metric]:
    runs = GaugeMetricFamily(
        "mlframework_dispatch_runs",
        "Dispatch runs kept (retention.runs_days), by status.",
        labels=["status"],
    )
    rows = GaugeMetricFamily(
        "mlframework_dispatch_run_rows",
        "Rows the kept dispatch runs read and wrote, by status.",
        labels=["status", "direction"],
    )
    seconds = SummaryMetricFamily(
        "mlframework_dispatch_run_duration_seconds",
        "Time from start to finish of the kept, finished dispatch runs.",
        labels=["status"],
    )
    totals = {
        row["status"]: row
        for row in DispatchRun.objects.order_by()
        .values("status")
        .annotate(n=Count("id"), read=Sum("rows_read"), written=Sum("rows_written"))
    }
    durations = {
        row["status"]: row
        for row in DispatchRun.objects.filter(
            started__isnull=False, finished__isnull=False
        )
        .order_by()
        .values("status")
        .annotate(n=Count("id"), took=Sum(F("finished") - F("started")))
    }
    for status in RunStatus.values:  # every status, 0 when none: no gaps in graphs
        row = totals.get(status, {})
        runs.add_metric([status], row.get("n", 0))
        rows.add_metric([status, "read"], row.get("read") or 0)
        rows.add_metric([status, "written"], row.get("written") or 0)
        finished = durations.get(status)
        if finished:
            took = finished["took"]
            seconds.add_metric(
                [status], finished["n"], took.total_seconds() if took else 0.0
            )
    return [runs, rows, seconds]


def _dispatch_predictions() -> Metric:
    # A gauge: pruning old runs lowers it, which a counter must never do.
    family = GaugeMetricFamily(
        "mlframework_dispatch_predicted_rows",
        "Rows the kept, succeeded dispatch runs wrote, per model version.",
        labels=["model", "version"],
    )
    written = (
        DispatchRun.objects.filter(
            status=RunStatus.SUCCEEDED, model_version__isnull=False
        )
        .order_by()
        .values("model_version__model__name", "model_version__number")
        .annotate(rows=Sum("rows_written"))
    )
    for row in written:
        family.add_metric(
            [row["model_version__model__name"], str(row["model_version__number"])],
            row["rows"] or 0,
        )
    return family


def _training_jobs() -> Metric:
    family = GaugeMetricFamily(
        "mlframework_training_jobs",
        "Training jobs kept (retention.jobs_days), by status.",
        labels=["status"],
    )
    counts = dict(
        TrainingJob.objects.order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    for status in TrainingJob.Status.values:
        family.add_metric([status], counts.get(status, 0))
    return family


def _alerts() -> Metric:
    family = GaugeMetricFamily(
        "mlframework_alerts",
        "Watched conditions by rule and state (ok, pending, firing).",
        labels=["rule", "status"],
    )
    counts = {
        (rule, status): n
        for rule, status, n in AlertState.objects.order_by()
        .values("rule", "status")
        .annotate(n=Count("id"))
        .values_list("rule", "status", "n")
    }
    for rule in Rule.values:
        for status in AlertStatus.values:
            family.add_metric([rule, status], counts.get((rule, status), 0))
    return family


def _workers() -> list[Metric]:
    now = timezone.now()
    pool = processes.pool(now)
    up = GaugeMetricFamily(
        "mlframework_task_worker_up",
        "1 while a task worker's heartbeat is fresh, 0 once it stopped or is lost.",
        labels=["worker", "host", "pid"],
    )
    silent = GaugeMetricFamily(
        "mlframework_task_worker_seconds_since_beat",
        "Seconds since each task worker's last heartbeat.",
        labels=["worker", "host", "pid"],
    )
    for worker in pool.workers:
        labels = [worker.worker_id, worker.host, str(worker.pid)]
        up.add_metric(labels, 1 if worker in pool.up else 0)
        silent.add_metric(labels, round(worker.seconds_since_beat(now), 3))
    queued = GaugeMetricFamily(
        "mlframework_tasks_queued", "Tasks ready to run, waiting for a task worker."
    )
    queued.add_metric([], pool.queued)
    return [up, silent, queued]
