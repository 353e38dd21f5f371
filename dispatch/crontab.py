"""Dispatch's crontab lines: one tagged line per enabled dispatch.

The database is the source of truth. Lines are found by their comment,
``<tag>:dispatch:<id>``, through the shared adapter (mlframework.lib.crontab);
any other line in the crontab is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


LINES = cron_adapter.OwnedLines(PREFIX, "scripts/dispatch.py")
mark = LINES.mark
log_for = LINES.log_for
command_for = LINES.command_for
managed_jobs = LINES.managed
managed_entries = LINES.entries
remove = LINES.remove
remove_all = LINES.remove_all


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
        return LINES.line(schedule, dispatch.pk)
    except CrontabError:
        raise CrontabError(
            _("dispatch %(name)s: cron refused %(schedule)r")
            % {"name": dispatch.name, "schedule": schedule}
        ) from None


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
    LINES.put(cron, schedule_for(dispatch), dispatch.pk)


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
