"""The crontab adapter: this installation's tagged lines in the user's crontab.

Every line the platform writes carries a comment ``<tag>:<mark>`` where the tag
(config cron.tag) names this installation and the mark names the owner
(``dispatch:<id>``, ``monitor``). Lines with any other comment are never
touched. Read-modify-write cycles run under one lock so the web, the worker,
cron jobs and other installs' tests never lose each other's lines. Lines carry
only ids and paths, never secrets.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from crontab import CronItem, CronTab
from django.conf import settings
from django.utils.translation import gettext as _

__all__ = [
    "CronItem",
    "CronTab",
    "CrontabError",
    "OwnedLines",
    "add",
    "check_schedule",
    "command",
    "comment",
    "create_log",
    "edit",
    "find",
    "find_under",
    "line",
    "log_dir",
    "project_dir",
    "python",
    "read",
    "tag",
]


class CrontabError(Exception):
    """The crontab could not be read or written, or a line cannot be made."""


def tag() -> str:
    return settings.CONFIG.cron.tag


def comment(mark: str) -> str:
    return f"{tag()}:{mark}"


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


def create_log(log: Path) -> None:
    """Create a cron line's log file now, private under our umask: cron's shell
    would create it with its own (022), and ``>>`` keeps a file's mode."""
    with contextlib.suppress(OSError):  # then cron's shell reports it
        log.parent.mkdir(parents=True, exist_ok=True)
        log.touch(exist_ok=True)


def command(script: str, *args: object, log: Path) -> str:
    """``cd <project> && [MLFRAMEWORK_CONFIG=...] <python> <script> <args> >> log``."""
    words = " ".join(shlex.quote(str(arg)) for arg in args)
    return (
        f"cd {shlex.quote(str(project_dir()))} && {_config_prefix()}"
        f"{shlex.quote(python())} {script}{' ' + words if words else ''} "
        f">> {shlex.quote(str(log))} 2>&1"
    )


def check_schedule(expression: str) -> None:
    """CrontabError unless python-crontab takes the expression as it is.

    croniter (the validator) accepts more than cron does: "L", "1#2", */8 in
    the days of the week; the form asks here too so they are refused there.
    """
    try:
        CronTab(tab="").new(command="true").setall(expression)
    except (ValueError, KeyError) as exc:
        raise CrontabError(f"cron refuses {expression!r}: {exc}") from None


def _new(cron: CronTab, schedule: str, command: str, mark: str) -> CronItem:
    job = cron.new(command=command, comment=comment(mark))
    try:
        job.setall(schedule)
        valid = job.is_valid()
    except (ValueError, KeyError):
        valid = False
    if not valid:
        cron.remove(job)
        raise CrontabError(f"cron refused {schedule!r}")
    return job


def line(schedule: str, command: str, mark: str) -> str:
    """The exact line :func:`add` writes, as python-crontab renders it (it
    writes some schedules short: ``0 * * * *`` becomes ``@hourly``), so it
    compares equal to what is installed."""
    return _new(CronTab(tab=""), schedule, command, mark).render()


def add(cron: CronTab, schedule: str, command: str, mark: str) -> CronItem:
    """Add a tagged line to ``cron`` (inside :func:`edit`); CrontabError when
    cron would refuse the schedule."""
    return _new(cron, schedule, command, mark)


def find(cron: CronTab, mark: str) -> list[CronItem]:
    """This installation's lines marked exactly ``mark``."""
    return list(cron.find_comment(comment(mark)))


def find_under(cron: CronTab, prefix: str) -> dict[str, list[CronItem]]:
    """This installation's lines marked ``<prefix>:<key>``, by key."""
    start = comment(f"{prefix}:")
    found: dict[str, list[CronItem]] = {}
    for job in cron:
        text = job.comment or ""
        if text.startswith(start) and len(text) > len(start):
            found.setdefault(text[len(start) :], []).append(job)
    return found


@contextlib.contextmanager
def _locked() -> Iterator[None]:
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


def read() -> CronTab:
    """The user's crontab as it is now (a copy: changes are not written)."""
    with _locked():
        return _read()


@contextlib.contextmanager
def edit() -> Iterator[CronTab]:
    """Lock, read, let the caller change the crontab, write it back when it
    changed. Nothing is written when the block raises."""
    with _locked():
        cron = _read()
        before = cron.render()
        yield cron
        if cron.render() == before:
            return
        try:
            cron.write()
        except (OSError, ValueError) as exc:
            raise CrontabError(f"the crontab cannot be written: {exc}") from None


@dataclass(frozen=True)
class OwnedLines:
    """One owner's numbered lines: ``<prefix>:<id>`` marks a line that runs
    ``<script> <id>``, logging to ``<log_dir>/<prefix>-<id>.log``."""

    prefix: str
    script: str

    def mark(self, pk: int) -> str:
        return f"{self.prefix}:{int(pk)}"

    def log_for(self, pk: int) -> Path:
        return log_dir() / f"{self.prefix}-{int(pk)}.log"

    def command_for(self, pk: int) -> str:
        return command(self.script, int(pk), log=self.log_for(pk))

    def line(self, schedule: str, pk: int) -> str:
        """The exact line :meth:`put` writes."""
        return line(schedule, self.command_for(pk), self.mark(pk))

    def managed(self, cron: CronTab) -> dict[int, list[CronItem]]:
        """Id -> this installation's lines for it in ``cron``."""
        return {
            int(key): jobs
            for key, jobs in find_under(cron, self.prefix).items()
            if key.isdigit()
        }

    def entries(self) -> dict[int, str]:
        """Id -> the installed line, as it is now."""
        return {pk: jobs[0].render() for pk, jobs in self.managed(read()).items()}

    def put(self, cron: CronTab, schedule: str, pk: int) -> CronItem:
        """Add the id's line to ``cron`` (inside :func:`edit`)."""
        try:
            # The shell refuses to start the job when its log folder is missing.
            log_dir().mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CrontabError(
                _("the log folder %(folder)s cannot be made: %(error)s")
                % {"folder": log_dir(), "error": exc}
            ) from None
        return add(cron, schedule, self.command_for(pk), self.mark(pk))

    def remove(self, pk: int) -> bool:
        """Remove the id's lines. True when there was one."""
        with edit() as cron:
            existing = self.managed(cron).get(int(pk), [])
            for job in existing:
                cron.remove(job)
        return bool(existing)

    def remove_all(self) -> int:
        """Remove every line of this owner (and installation); how many."""
        with edit() as cron:
            jobs = [job for found in self.managed(cron).values() for job in found]
            for job in jobs:
                cron.remove(job)
        return len(jobs)
