"""A JSON-lines file holding events the database could not take yet.

Appends and replays hold an exclusive lock on the file, so web workers and
cron runs can share it. A replay inserts with "ignore conflicts" on the
event id, so a replay cut off half-way can simply be run again: nothing is
lost and nothing is stored twice.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from mlframework.events.models import Event
from mlframework.events.routers import EVENTS_DB

logger = logging.getLogger("mlframework.events")


def path() -> Path:
    return settings.CONFIG.path(settings.CONFIG.paths.spool) / "events.jsonl"


def pending() -> bool:
    try:
        return path().stat().st_size > 0
    except FileNotFoundError:
        return False


@contextmanager
def _locked(mode: str):
    file = path()
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, mode) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def append(event) -> None:
    append_all([event])


def append_all(events) -> None:
    """Spool events in their order, with one lock and one fsync."""
    lines = "".join(
        json.dumps(event.to_spool(), ensure_ascii=False) + "\n" for event in events
    )
    with _locked("r+") as handle:
        handle.seek(0, os.SEEK_END)
        handle.write(lines)
        handle.flush()
        os.fsync(handle.fileno())


def replay() -> int:
    """Store every spooled event in order; return how many were replayed.

    Raises the database error if the events database is still unreachable;
    the spool is then left as it was.
    """
    batch_size = settings.CONFIG.events.spool_replay_batch
    with _locked("r+") as handle:
        handle.seek(0)
        events, bad = [], []
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                events.append(Event.from_spool(json.loads(line)))
            except (ValueError, TypeError, KeyError):
                bad.append(line)
                logger.error("spool line %d is unreadable; kept aside", number)
        for start in range(0, len(events), batch_size):
            Event.objects.using(EVENTS_DB).bulk_create(
                events[start : start + batch_size], ignore_conflicts=True
            )
        if bad:
            with open(path().with_suffix(".bad"), "a", encoding="utf-8") as aside:
                aside.writelines(bad)
        handle.seek(0)
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())
    return len(events)
