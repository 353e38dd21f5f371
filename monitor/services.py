"""One look at everything the Monitor watches, and the alert pass over it."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from dispatch import crontab
from mlframework.events.log import log_event
from mlframework.lib import crontab as cron_adapter
from mlframework.processes import services as processes
from monitor import alerts, probes, realised, schedules
from monitor.drift import alerts as drift_alerts


@dataclass
class Snapshot:
    at: dt.datetime
    checks: list[probes.Result]
    schedules: list[schedules.Schedule]

    @property
    def healthy(self) -> bool:
        """Every critical check passes (what /healthz answers)."""
        return probes.healthy(self.checks)

    @property
    def problems(self) -> list[str]:
        found = [
            f"{r.kind} {r.name} {r.status}: {r.error}"
            for r in self.checks
            if not r.ok and r.critical
        ]
        if any(not s.paused for s in self.schedules):
            # Enabled dispatches need cron even though /healthz does not.
            found += [
                f"{r.name}: {r.error}"
                for r in self.checks
                if r.kind == "service" and r.name == "cron" and not r.ok
            ]
        found += [
            f"dispatch {s.dispatch.name}: {problem}"
            for s in self.schedules
            for problem in s.problems
        ]
        return found

    @property
    def ok(self) -> bool:
        """No critical check failing and no schedule flagged (what cron sees)."""
        return not self.problems


def snapshot(now: dt.datetime | None = None) -> Snapshot:
    return Snapshot(
        at=now or timezone.now(),
        checks=probes.run_all(),
        schedules=schedules.collect(now),
    )


# /healthz is open to anyone: its answers come from results this many seconds
# old at most, so no caller can make the server probe everything per request.
HEALTHZ_CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class Checked:
    results: list[probes.Result]
    at: dt.datetime  # when these probes started
    stamp: float  # the same moment, for ages (time.time)

    def age(self) -> float:
        return max(0.0, time.time() - self.stamp)


class SharedChecks:
    """Probe results shared by every caller in this process for `ttl` seconds.

    At most one thread probes at a time. A caller that finds results older than
    `ttl` gets them at once (with their age) and starts one background refresh;
    only a caller that finds none waits, and no longer than the probes' own
    timeouts allow. Results taken under another configuration do not count.
    """

    def __init__(self, run: Callable[[], list[probes.Result]], ttl: float) -> None:
        self.run = run
        self.ttl = ttl
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._checked: Checked | None = None
        self._config = None
        self._refreshing = False
        self.refresher: threading.Thread | None = None  # the last background one

    def get(self) -> Checked | None:
        """Fresh-enough results, or None if the first probes outlast the wait."""
        with self._lock:
            checked = self._current()
            start = not self._refreshing and (
                checked is None or checked.age() > self.ttl
            )
            if start:
                self._refreshing = True
        if start and checked is not None:
            self.refresher = threading.Thread(target=self.refresh, daemon=True)
            self.refresher.start()
            return checked
        if start:
            return self.refresh()
        if checked is not None:
            return checked
        with self._done:
            self._done.wait_for(
                lambda: self._current() is not None or not self._refreshing,
                _wait_bound(),
            )
            checked = self._current()
            if checked is not None or self._refreshing:
                return checked
            self._refreshing = True  # that refresh was for another configuration
        return self.refresh()

    def refresh(self) -> Checked:
        """Probe now (the caller has claimed the refresh) and share the results."""
        config, stamp, at = settings.CONFIG, time.time(), timezone.now()
        checked = None
        try:
            checked = Checked(self.run(), at, stamp)
        finally:
            with self._done:
                if checked is not None:
                    self._checked, self._config = checked, config
                self._refreshing = False
                self._done.notify_all()
        return checked

    def clear(self) -> None:
        with self._lock:
            self._checked = self._config = None

    def _current(self) -> Checked | None:
        return self._checked if self._config is settings.CONFIG else None


def _wait_bound() -> float:
    """How long a first caller may wait: the slowest probe's own timeout."""
    config = settings.CONFIG
    timeouts = [float(h.timeout) for h in config.hosts]
    timeouts += [float(d.timeout) for d in config.datasources.values()]
    timeouts += [float(config.databases.events.connect_timeout)]
    timeouts += [float(config.databases.default.connect_timeout)]
    return max(timeouts) + 5.0


healthz_checks = SharedChecks(probes.run_all, HEALTHZ_CACHE_SECONDS)


def health(*, details: bool) -> dict:
    """The /healthz body from the shared results, with when they were taken."""
    checked = healthz_checks.get()
    if checked is None:
        return {
            "status": "failing",
            "checks": [],
            "error": "the first checks are still running",
            "checked_at": None,
            "age_seconds": None,
        }
    body = probes.summary(checked.results, details=details)
    body["checked_at"] = checked.at.isoformat()
    body["age_seconds"] = round(checked.age(), 1)
    return body


def check_and_alert(now: dt.datetime | None = None) -> tuple[Snapshot, list]:
    """Take a snapshot and send the alerts it calls for."""
    now = now or timezone.now()
    processes.sweep(now)  # fails the tasks of workers that stopped
    current = snapshot(now)
    findings = alerts.probe_findings(current.checks)
    findings += schedules.findings(current.schedules)
    findings += drift_alerts.findings([s.dispatch for s in current.schedules])
    findings += realised.findings()
    sent = alerts.evaluate(findings, now)
    alerts.forget_unwatched(findings, now)
    return current, sent


def summary_lines(current: Snapshot) -> list[str]:
    """The plain-text summary scripts/monitor.py prints."""
    lines = [f"mlframework monitor at {current.at:%Y-%m-%d %H:%M:%S %Z}"]
    for r in current.checks:
        mark = "ok  " if r.ok else ("FAIL" if r.critical else "warn")
        text = f"{mark} {r.kind:<10} {r.name:<20} {r.status:<7} {r.ms:>8} ms"
        lines.append(text + (f"  {r.error}" if r.error else ""))
    for s in current.schedules:
        mark = "FAIL" if s.problems else "ok  "
        state = "paused" if s.paused else s.timing.replace("_", " ")
        nxt = f"next {s.next_run:%Y-%m-%d %H:%M %Z}" if s.next_run else "no next run"
        text = f"{mark} {'dispatch':<10} {s.dispatch.name:<20} {state:<7} {nxt}"
        lines.append(text + (f"  {'; '.join(s.problems)}" if s.problems else ""))
    verdict = "OK" if current.ok else f"FAILING ({len(current.problems)} problems)"
    lines.append(verdict)
    return lines


def sync_crontab(user) -> str:
    """Make the crontab match the database; logs what changed."""
    result = crontab.sync()
    log_event(
        "monitor",
        "crontab.synced",
        f"{getattr(user, 'username', '') or 'the system'} synchronised the crontab: "
        f"{result}",
        level="warning" if result.errors else "info",
        user=user,
        data={
            "added": result.added,
            "removed": result.removed,
            "fixed": result.fixed,
            "errors": {str(k): v for k, v in result.errors.items()},
            "skipped": {str(k): v for k, v in result.skipped.items()},
        },
    )
    return str(result)


# --------------------------------------------------------------------------
# The monitor's own crontab line: the alert pass every few minutes
# --------------------------------------------------------------------------

MONITOR_MARK = "monitor"


def _monitor_log() -> Path:
    return cron_adapter.log_dir() / "monitor.log"


def _monitor_command() -> str:
    return cron_adapter.command("scripts/monitor.py", log=_monitor_log())


def _monitor_schedule(every_minutes: int) -> str:
    if not 1 <= every_minutes <= 59:
        raise ValueError("every_minutes must be between 1 and 59")
    return f"*/{every_minutes} * * * *"


def monitor_cron_line(every_minutes: int = 5) -> str:
    """The exact line: only paths, never secrets."""
    return cron_adapter.line(
        _monitor_schedule(every_minutes), _monitor_command(), MONITOR_MARK
    )


def install_monitor_cron(every_minutes: int = 5) -> bool:
    """Write (or rewrite) the alert pass's crontab line. True when it changed.

    The line is marked ``monitor``, which the dispatch sync never touches (it
    owns only ``dispatch:<id>``).
    """
    line = monitor_cron_line(every_minutes)
    cron_adapter.create_log(_monitor_log())
    with cron_adapter.edit() as cron:
        mine = cron_adapter.find(cron, MONITOR_MARK)
        if len(mine) == 1 and mine[0].render() == line:
            return False
        for job in mine:
            cron.remove(job)
        cron_adapter.add(
            cron, _monitor_schedule(every_minutes), _monitor_command(), MONITOR_MARK
        )
    return True


def remove_monitor_cron() -> bool:
    with cron_adapter.edit() as cron:
        mine = cron_adapter.find(cron, MONITOR_MARK)
        for job in mine:
            cron.remove(job)
    return bool(mine)


def monitor_cron_installed() -> str | None:
    found = cron_adapter.find(cron_adapter.read(), MONITOR_MARK)
    return found[0].render() if found else None
