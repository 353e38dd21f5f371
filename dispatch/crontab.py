"""The cron adapter: one tagged crontab line per enabled dispatch.

The database is the source of truth. Lines are found by their comment,
``<tag>:dispatch:<id>``, where the tag (config cron.tag) names this
installation; any other line in the crontab is never touched. Lines carry only
ids and paths, never secrets.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from crontab import CronTab
from django.conf import settings

from dispatch.schedule import ScheduleError, for_cron_daemon


class CrontabError(Exception):
    """The crontab could not be read or written, or a line cannot be made."""


@dataclass
class SyncResult:
    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    fixed: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    # Enabled but never firing: no line, on purpose (the reason in words).
    skipped: dict[int, str] = field(default_factory=dict)

    def __str__(self) -> str:
        text = (
            f"{len(self.added)} added, {len(self.removed)} removed, "
            f"{len(self.fixed)} fixed"
        )
        if self.skipped:
            reasons = "; ".join(self.skipped.values())
            text += f", {len(self.skipped)} skipped ({reasons})"
        return text + (f", {len(self.errors)} failed" if self.errors else "")


def tag() -> str:
    return settings.CONFIG.cron.tag


def _comment(dispatch_id: int) -> str:
    return f"{tag()}:dispatch:{dispatch_id}"


def _comment_pattern() -> re.Pattern:
    return re.compile(rf"^{re.escape(tag())}:dispatch:(\d+)$")


def project_dir() -> Path:
    configured = settings.CONFIG.cron.project_dir
    if configured == "auto":
        return Path(settings.BASE_DIR).resolve()
    return Path(configured)


def python() -> str:
    configured = settings.CONFIG.cron.python
    if configured != "auto":
        return configured
    venv = project_dir() / ".venv" / "bin" / "python"
    return str(venv if venv.exists() else Path(sys.executable))


def _config_prefix() -> str:
    # Only a non-default config file is named (tests, alternative installs):
    # a path, never its contents.
    config_file = Path(settings.CONFIG_FILE).resolve()
    if config_file == project_dir() / "config.yaml":
        return ""
    return f"MLFRAMEWORK_CONFIG={shlex.quote(str(config_file))} "


def log_dir() -> Path:
    return settings.CONFIG.path(settings.CONFIG.cron.log_dir)


def log_for(dispatch_id: int) -> Path:
    return log_dir() / f"dispatch-{int(dispatch_id)}.log"


def create_log(log: Path) -> None:
    """Create a cron line's log file now, private under our umask: cron's shell
    would create it with its own (022), and ``>>`` keeps a file's mode."""
    with contextlib.suppress(OSError):  # then cron's shell reports it
        log.parent.mkdir(parents=True, exist_ok=True)
        log.touch(exist_ok=True)


def command_for(dispatch_id: int) -> str:
    root = project_dir()
    log = log_for(dispatch_id)
    return (
        f"cd {shlex.quote(str(root))} && {_config_prefix()}"
        f"{shlex.quote(python())} scripts/dispatch.py {int(dispatch_id)} "
        f">> {shlex.quote(str(log))} 2>&1"
    )


def schedule_for(dispatch) -> str:
    try:
        return for_cron_daemon(dispatch.cron, dispatch.timezone)
    except ScheduleError as exc:
        raise CrontabError(f"dispatch {dispatch.name}: {exc}") from None


def check_schedule(expression: str) -> None:
    """CrontabError unless python-crontab takes the expression as it is.

    croniter (the validator) accepts more than cron does: "L", "1#2", */8 in
    the days of the week; the form asks here too so they are refused there.
    """
    try:
        CronTab(tab="").new(command="true").setall(expression)
    except (ValueError, KeyError) as exc:
        raise CrontabError(f"cron refuses {expression!r}: {exc}") from None


def line_for(dispatch) -> str:
    """The exact line the platform writes for this dispatch.

    Rendered by python-crontab itself, which writes some schedules in their
    short form (``0 * * * *`` becomes ``@hourly``), so the line compares equal
    to what is installed.
    """
    schedule = schedule_for(dispatch)
    job = CronTab(tab="").new(
        command=command_for(dispatch.pk), comment=_comment(dispatch.pk)
    )
    try:
        job.setall(schedule)
    except (ValueError, KeyError):
        raise CrontabError(
            f"dispatch {dispatch.name}: cron refused {schedule!r}"
        ) from None
    return _render(job)


@contextlib.contextmanager
def _locked():
    # Several processes (web, worker, cron jobs, other installs' tests) may
    # rewrite the crontab; serialise the read-modify-write cycles.
    path = Path(tempfile.gettempdir()) / f"mlframework-crontab-{os.getuid()}.lock"
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read() -> CronTab:
    try:
        return CronTab(user=True)
    except (OSError, ValueError) as exc:
        raise CrontabError(f"the crontab cannot be read: {exc}") from None


def _write(cron: CronTab) -> None:
    try:
        cron.write()
    except (OSError, ValueError) as exc:
        raise CrontabError(f"the crontab cannot be written: {exc}") from None


def _managed_jobs(cron: CronTab) -> dict[int, list]:
    pattern = _comment_pattern()
    jobs: dict[int, list] = {}
    for job in cron:
        match = pattern.match(job.comment or "")
        if match:
            jobs.setdefault(int(match.group(1)), []).append(job)
    return jobs


def _render(job) -> str:
    return job.render()


def managed_entries() -> dict[int, str]:
    """Dispatch id -> installed line, for this installation's tag only."""
    with _locked():
        cron = _read()
    return {pk: _render(jobs[0]) for pk, jobs in _managed_jobs(cron).items()}


def entry_state(dispatch, entries: dict[int, str] | None = None) -> str:
    """ "ok", "missing", "mismatch", "unexpected" (a line while disabled) or
    "never_fires" (enabled, no line because the schedule never fires)."""
    entries = managed_entries() if entries is None else entries
    installed = entries.get(dispatch.pk)
    if not dispatch.enabled:
        return "unexpected" if installed else "ok"
    if dispatch.never_fires():
        return "mismatch" if installed else "never_fires"
    if installed is None:
        return "missing"
    try:
        expected = line_for(dispatch)
    except CrontabError:
        return "mismatch"
    return "ok" if installed == expected else "mismatch"


def _set_job(cron: CronTab, dispatch) -> None:
    line = line_for(dispatch)
    try:
        # The shell refuses to start the job when its log folder is missing.
        log_dir().mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CrontabError(
            f"the log folder {log_dir()} cannot be made: {exc}"
        ) from None
    schedule = schedule_for(dispatch)
    job = cron.new(command=command_for(dispatch.pk), comment=_comment(dispatch.pk))
    try:
        job.setall(schedule)
        valid = job.is_valid() and _render(job) == line
    except (ValueError, KeyError):
        valid = False
    if not valid:
        cron.remove(job)
        raise CrontabError(f"dispatch {dispatch.name}: cron refused {schedule!r}")


def install(dispatch) -> bool:
    """Write (or rewrite) the dispatch's line. True when the crontab changed."""
    create_log(log_for(dispatch.pk))
    with _locked():
        cron = _read()
        existing = _managed_jobs(cron).get(dispatch.pk, [])
        if len(existing) == 1 and _render(existing[0]) == line_for(dispatch):
            return False
        for job in existing:
            cron.remove(job)
        _set_job(cron, dispatch)
        _write(cron)
        return True


def remove(dispatch_id: int) -> bool:
    """Remove the dispatch's line. True when there was one."""
    with _locked():
        cron = _read()
        existing = _managed_jobs(cron).get(int(dispatch_id), [])
        if not existing:
            return False
        for job in existing:
            cron.remove(job)
        _write(cron)
        return True


def sync() -> SyncResult:
    """Make this installation's crontab lines match the database."""
    from dispatch.models import Dispatch

    result = SyncResult()
    wanted = {d.pk: d for d in Dispatch.objects.filter(enabled=True)}
    with _locked():
        cron = _read()
        installed = _managed_jobs(cron)
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
                if len(jobs) == 1 and _render(jobs[0]) == line_for(dispatch):
                    continue
                for job in jobs:
                    cron.remove(job)
                _set_job(cron, dispatch)
            except CrontabError as exc:
                result.errors[pk] = str(exc)
                continue
            (result.fixed if jobs else result.added).append(pk)
        if result.added or result.removed or result.fixed:
            _write(cron)
    return result
