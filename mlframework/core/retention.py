"""Retention: finished records older than their configured age are deleted,
in batches of retention.batch_size rows so that no statement holds a table
for long. Each app owns what it deletes (its prune function); this module
decides the ages, runs them and logs what went.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from dispatch.services import prune_runs
from mlframework.events.log import log_event, prune_events
from mlframework.events.models import Event
from mlframework.usage.services import prune_requests
from registry.datasets import prune_unused
from registry.jobs import prune_jobs
from registry.shadow import prune_files as prune_shadow_files

KIND = "retention.pruned"
logger = logging.getLogger("mlframework.retention")


@dataclass(frozen=True)
class Pruned:
    """What one pass deleted, per kind of record."""

    counts: dict[str, int] = field(default_factory=dict)
    cutoffs: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        if not self.counts:
            return "nothing to prune (every age is 0: kept forever)"
        return ", ".join(f"{count} {kind}" for kind, count in self.counts.items())


def _pruners() -> list[tuple[str, str, Callable[[dt.datetime, int], int]]]:
    return [
        ("events", "events_days", prune_events),
        ("dispatch runs", "runs_days", prune_runs),
        ("training jobs", "jobs_days", prune_jobs),
        ("datasets", "datasets_days", prune_unused),
        ("API requests", "api_requests_days", prune_requests),
        ("shadow prediction files", "runs_days", prune_shadow_files),
    ]


def prune(now: dt.datetime | None = None) -> Pruned:
    """One pass over every kind of record, oldest first; logs the result."""
    config = settings.CONFIG.retention
    now = now or timezone.now()
    counts, cutoffs = {}, {}
    for kind, key, function in _pruners():
        days = getattr(config, key)
        if not days:
            continue
        cutoff = now - dt.timedelta(days=days)
        counts[kind] = function(cutoff, config.batch_size)
        cutoffs[kind] = cutoff.isoformat(timespec="seconds")
    result = Pruned(counts, cutoffs)
    log_event(
        "retention",
        "retention.pruned",
        f"Retention: deleted {result.summary()}",
        data={"counts": counts, "before": cutoffs},
    )
    return result


def due(now: dt.datetime | None = None) -> bool:
    """True when no pass ran in the last retention.every_hours."""
    now = now or timezone.now()
    since = now - dt.timedelta(hours=settings.CONFIG.retention.every_hours)
    return not Event.objects.filter(kind=KIND, created__gte=since).exists()


def prune_if_due(now: dt.datetime | None = None) -> Pruned | None:
    """What the monitor's cron round calls; a failure is logged, and the
    round goes on (the next one tries again)."""
    if not due(now):
        return None
    try:
        return prune(now)
    except Exception as exc:
        logger.exception("retention pass failed")
        log_event(
            "retention",
            "retention.failed",
            f"Retention: the pass failed: {type(exc).__name__}: {exc}",
            level="error",
        )
        return None
