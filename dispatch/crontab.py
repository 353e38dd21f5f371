"""Dispatch's crontab lines: one tagged line per enabled dispatch.

The database is the source of truth. Lines are found by their comment,
``<tag>:dispatch:<id>``, through the shared adapter (mlframework.lib.crontab);
any other line in the crontab is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.db import models
from django.utils.translation import gettext_lazy as _

from dispatch.models import Dispatch
from dispatch.schedule import ScheduleError, for_cron_daemon
from mlframework.lib import crontab as cron_adapter
from mlframework.lib.crontab import (
    CrontabError,
    check_schedule,
    create_log,
    log_dir,
    project_dir,
    python,
    tag,
)

__all__ = [
    "CrontabError",
    "EntryState",
    "SyncResult",
    "check_schedule",
    "command_for",
    "create_log",
    "entry_state",
    "install",
    "line_for",
    "log_dir",
    "log_for",
    "managed_entries",
    "project_dir",
    "python",
    "remove",
    "schedule_for",
    "sync",
    "tag",
]

PREFIX = "dispatch"


class EntryState(models.TextChoices):
    """A dispatch's crontab line against the database (labels as shown)."""

    OK = "ok", _("line present and matching")
    MISSING = "missing", _("line missing: cron will not run it")
    MISMATCH = "mismatch", _("line differs from the database")
    UNEXPECTED = "unexpected", _("line present although paused: cron still runs it")
    NEVER_FIRES = "never_fires", _("no line: the schedule never fires")
    ERROR = "error", _("crontab unreadable")


@dataclass
class SyncResult:
    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    fixed: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    # Enabled but never firing: no line, on purpose (the reason in words).
    skipped: dict[int, str] = field(default_factory=dict)

    def __str__(self) -> str:
        text = _("%(added)s added, %(removed)s removed, %(fixed)s fixed") % {
            "added": len(self.added),
            "removed": len(self.removed),
            "fixed": len(self.fixed),
        }
        if self.skipped:
            text += _(", %(count)s skipped (%(reasons)s)") % {
                "count": len(self.skipped),
                "reasons": "; ".join(self.skipped.values()),
            }
        if self.errors:
            text += _(", %(count)s failed") % {"count": len(self.errors)}
        return text


def mark(dispatch_id: int) -> str:
    return f"{PREFIX}:{int(dispatch_id)}"


def log_for(dispatch_id: int) -> Path:
    return log_dir() / f"dispatch-{int(dispatch_id)}.log"


def command_for(dispatch_id: int) -> str:
    return cron_adapter.command(
        "scripts/dispatch.py", int(dispatch_id), log=log_for(dispatch_id)
    )


def schedule_for(dispatch) -> str:
    try:
        return for_cron_daemon(dispatch.cron, dispatch.timezone)
    except ScheduleError as exc:
        raise CrontabError(
            _("dispatch %(name)s: %(error)s") % {"name": dispatch.name, "error": exc}
        ) from None


def line_for(dispatch) -> str:
    """The exact line the platform writes for this dispatch."""
    schedule = schedule_for(dispatch)
    try:
        return cron_adapter.line(schedule, command_for(dispatch.pk), mark(dispatch.pk))
    except CrontabError:
        raise CrontabError(
            _("dispatch %(name)s: cron refused %(schedule)r")
            % {"name": dispatch.name, "schedule": schedule}
        ) from None


def managed_jobs(cron: cron_adapter.CronTab) -> dict[int, list]:
    """Dispatch id -> this installation's lines for it in ``cron``."""
    return {
        int(key): jobs
        for key, jobs in cron_adapter.find_under(cron, PREFIX).items()
        if key.isdigit()
    }


def managed_entries() -> dict[int, str]:
    """Dispatch id -> installed line, for this installation's tag only."""
    cron = cron_adapter.read()
    return {pk: jobs[0].render() for pk, jobs in managed_jobs(cron).items()}


def entry_state(dispatch, entries: dict[int, str] | None = None) -> EntryState:
    """The dispatch's line against the database: UNEXPECTED is a line while
    disabled, NEVER_FIRES enabled with no line because it never fires."""
    entries = managed_entries() if entries is None else entries
    installed = entries.get(dispatch.pk)
    if not dispatch.enabled:
        return EntryState.UNEXPECTED if installed else EntryState.OK
    if dispatch.never_fires():
        return EntryState.MISMATCH if installed else EntryState.NEVER_FIRES
    if installed is None:
        return EntryState.MISSING
    try:
        expected = line_for(dispatch)
    except CrontabError:
        return EntryState.MISMATCH
    return EntryState.OK if installed == expected else EntryState.MISMATCH


def _set_job(cron: cron_adapter.CronTab, dispatch) -> None:
    line_for(dispatch)  # the dispatch's own error first (timezone, refusal)
    try:
        # The shell refuses to start the job when its log folder is missing.
        log_dir().mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CrontabError(
            _("the log folder %(folder)s cannot be made: %(error)s")
            % {"folder": log_dir(), "error": exc}
        ) from None
    schedule = schedule_for(dispatch)
    try:
        cron_adapter.add(cron, schedule, command_for(dispatch.pk), mark(dispatch.pk))
    except CrontabError:
        raise CrontabError(
            _("dispatch %(name)s: cron refused %(schedule)r")
            % {"name": dispatch.name, "schedule": schedule}
        ) from None


def install(dispatch) -> bool:
    """Write (or rewrite) the dispatch's line. True when the crontab changed."""
    create_log(log_for(dispatch.pk))
    with cron_adapter.edit() as cron:
        existing = managed_jobs(cron).get(dispatch.pk, [])
        if len(existing) == 1 and existing[0].render() == line_for(dispatch):
            return False
        for job in existing:
            cron.remove(job)
        _set_job(cron, dispatch)
        return True


def remove(dispatch_id: int) -> bool:
    """Remove the dispatch's line. True when there was one."""
    with cron_adapter.edit() as cron:
        existing = managed_jobs(cron).get(int(dispatch_id), [])
        for job in existing:
            cron.remove(job)
    return bool(existing)


def remove_all() -> int:
    """Remove every dispatch line of this installation (the tag); how many."""
    with cron_adapter.edit() as cron:
        jobs = [job for found in managed_jobs(cron).values() for job in found]
        for job in jobs:
            cron.remove(job)
    return len(jobs)


def sync() -> SyncResult:
    """Make this installation's crontab lines match the database."""
    result = SyncResult()
    wanted = {d.pk: d for d in Dispatch.objects.filter(enabled=True)}
    with cron_adapter.edit() as cron:
        installed = managed_jobs(cron)
        for pk, jobs in installed.items():
            if pk not in wanted:
                for job in jobs:
                    cron.remove(job)
                result.removed.append(pk)
        for pk, dispatch in wanted.items():
            jobs = installed.get(pk, [])
            reason = dispatch.never_fires()
            if reason:
                for job in jobs:
                    cron.remove(job)
                if jobs:
                    result.removed.append(pk)
                result.skipped[pk] = f"dispatch {dispatch.name}: {reason}"
                continue
            try:
                if len(jobs) == 1 and jobs[0].render() == line_for(dispatch):
                    continue
                for job in jobs:
                    cron.remove(job)
                _set_job(cron, dispatch)
            except CrontabError as exc:
                result.errors[pk] = str(exc)
                continue
            (result.fixed if jobs else result.added).append(pk)
    return result
