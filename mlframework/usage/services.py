"""The API usage page's numbers (requests, errors and p50/p95 latency per
user, model or endpoint, per hour or day) and the retention of its rows."""

from __future__ import annotations

import bisect
import datetime as dt
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.utils import formats, timezone

from mlframework.lib.batches import delete_in_batches
from mlframework.usage.models import ApiRequest

GROUPINGS = ("hour", "day")
KEYS = ("user", "model", "endpoint")
ANONYMOUS = "(anonymous)"
NO_MODEL = "(no model)"
_COLUMN = {"user": "username", "model": "model_name", "endpoint": "endpoint"}
_EMPTY = {"user": ANONYMOUS, "model": NO_MODEL, "endpoint": ""}
READ_CHUNK = 5000  # rows fetched at a time (8 bytes of each are kept)


@dataclass(frozen=True)
class Figures:
    requests: int
    errors: int  # answered 4xx or 5xx
    server_errors: int  # 5xx
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class Cell:
    """One key's figures in one hour or day."""

    start: dt.datetime
    key: str
    figures: Figures


@dataclass(frozen=True)
class Usage:
    since: dt.datetime
    until: dt.datetime
    grouping: str
    by: str
    starts: list[dt.datetime]  # every bucket of the period, oldest first
    cells: list[Cell]  # only where there were requests, by start then key
    totals: dict[str, Figures]  # per key over the whole period, busiest first

    def chart(self, top: int = 8) -> dict:
        """The chart's data: the busiest keys' requests and p95 per bucket."""
        keys = list(self.totals)[:top]
        index = {start: i for i, start in enumerate(self.starts)}
        requests = {key: [0] * len(self.starts) for key in keys}
        p95 = {key: [None] * len(self.starts) for key in keys}
        for cell in self.cells:
            if cell.key in requests:
                requests[cell.key][index[cell.start]] = cell.figures.requests
                p95[cell.key][index[cell.start]] = cell.figures.p95_ms
        # The reader's date format (pt-BR dd/mm/aaaa); buckets start on the hour.
        fmt = "SHORT_DATE_FORMAT" if self.grouping == "day" else "SHORT_DATETIME_FORMAT"
        return {
            "labels": [
                formats.date_format(timezone.localtime(s), fmt) for s in self.starts
            ],
            "series": [
                {"key": key, "requests": requests[key], "p95_ms": p95[key]}
                for key in keys
            ],
        }


def figures(statuses: Iterable[int], durations_ms) -> Figures:
    """Counts and the 50th/95th percentiles (numpy's linear interpolation)."""
    codes = np.asarray(statuses, dtype=np.int32)
    values = np.asarray(durations_ms, dtype=float)
    p50, p95 = np.percentile(values, [50, 95]) if len(values) else (None, None)
    return Figures(
        requests=len(codes),
        errors=int((codes >= 400).sum()),
        server_errors=int((codes >= 500).sum()),
        p50_ms=None if p50 is None else round(float(p50), 3),
        p95_ms=None if p95 is None else round(float(p95), 3),
    )


def bucket_start(at: dt.datetime, grouping: str) -> dt.datetime:
    """The start, in UTC, of the local hour or day (the platform's time zone)
    that `at` falls in."""
    local = timezone.localtime(at)
    if grouping == "day":
        local = local.replace(hour=0)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def _starts(since: dt.datetime, until: dt.datetime, grouping: str) -> list:
    starts, current = [], bucket_start(since, grouping)
    while current < until:
        starts.append(current)
        if grouping == "hour":
            current = bucket_start(current + dt.timedelta(hours=1), grouping)
        else:  # the next local midnight: days of 23 or 25 hours included
            day = timezone.localtime(current).date() + dt.timedelta(days=1)
            current = bucket_start(
                timezone.make_aware(dt.datetime.combine(day, dt.time(12))), grouping
            )
    return starts


class _Pile:
    def __init__(self) -> None:
        self.statuses = array("H")
        self.durations = array("d")

    def add(self, status: int, duration: float) -> None:
        self.statuses.append(status)
        self.durations.append(duration)

    def figures(self) -> Figures:
        return figures(self.statuses, np.frombuffer(self.durations, dtype=float))


def usage(
    since: dt.datetime, until: dt.datetime, *, grouping: str = "hour", by: str = "user"
) -> Usage:
    """The figures of the requests at since <= at < until."""
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {', '.join(GROUPINGS)}")
    if by not in KEYS:
        raise ValueError(f"by must be one of {', '.join(KEYS)}")
    starts = _starts(since, until, grouping)
    rows = (
        ApiRequest.objects.filter(at__gte=since, at__lt=until)
        .order_by("at")
        .values_list("at", "status", _COLUMN[by], "duration_ms")
        .iterator(chunk_size=READ_CHUNK)
    )
    empty = _EMPTY[by]
    cells: list[Cell] = []
    period: dict[str, _Pile] = {}
    current_index, current = -1, {}

    def close_bucket() -> None:
        for key in sorted(current):
            cells.append(Cell(starts[current_index], key, current[key].figures()))

    for at, status, key, duration in rows:
        # Rows come in time order: a bucket is done when one lands past it.
        index = bisect.bisect_right(starts, at) - 1
        if index != current_index:
            close_bucket()
            current_index, current = index, {}
        key = key or empty
        current.setdefault(key, _Pile()).add(status, duration)
        period.setdefault(key, _Pile()).add(status, duration)
    close_bucket()
    totals = {key: pile.figures() for key, pile in period.items()}
    busiest = dict(sorted(totals.items(), key=lambda kv: (-kv[1].requests, kv[0])))
    return Usage(since, until, grouping, by, starts, cells, busiest)


def prune_requests(before: dt.datetime, batch: int) -> int:
    """Delete the rows older than `before`, `batch` rows per statement."""
    return delete_in_batches(ApiRequest.objects.filter(at__lt=before), batch)
