"""The state of every dispatch's schedule, as the Monitor shows it.

For each dispatch: its crontab line (present and matching the database?),
enabled or paused (by whom, when, why), the last run, the true next run (what
cron will actually do: none when paused or when the line is missing), and
whether a run is late or missed.

A run is *late* when the last time cron should have fired plus the dispatch's
grace time has passed and no run has started since; it is *missed* when the
next time has come too and that run still never happened (the status is
Dispatch.schedule_timing; only time since the dispatch was created, edited or
enabled counts). A schedule with no run in the
coming years (saved before the form refused those) *never fires*: flagged,
with no crontab line, and it does not stop the other dispatches' checks.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from django.utils.translation import gettext as _

from dispatch import crontab
from dispatch import schedule as schedule_times
from dispatch.models import (
    FLAGGED_STATUSES,
    Dispatch,
    DispatchRun,
    RunStatus,
    ScheduleStatus,
)
from monitor.alerts import Finding
from monitor.drift.pages import DriftSummary, latest_by_dispatch
from monitor.models import Rule

# The words for each crontab state, as the Monitor shows them.
CRONTAB_WORDS = {state.value: state.label for state in crontab.EntryState}


@dataclass
class Schedule:
    dispatch: Dispatch
    crontab_state: crontab.EntryState
    crontab_error: str
    last_run: DispatchRun | None
    next_run: dt.datetime | None
    timing: ScheduleStatus
    due: dt.datetime | None  # the slot the timing is about
    watched_since: dt.datetime
    never_fires: str = ""  # why the schedule has no run in the coming years
    problems: list[str] = field(default_factory=list)
    drift: DriftSummary | None = None  # the latest run's drift report

    @property
    def crontab_words(self) -> str:
        return self.crontab_error or str(CRONTAB_WORDS.get(self.crontab_state, ""))

    @property
    def crontab_ok(self) -> bool:
        # A never-firing schedule is meant to have no line; its own problem says so.
        return self.crontab_state in (
            crontab.EntryState.OK,
            crontab.EntryState.NEVER_FIRES,
        )

    @property
    def flagged(self) -> bool:
        return bool(self.problems)

    @property
    def paused(self) -> bool:
        return not self.dispatch.enabled

    @property
    def timing_words(self) -> str:
        return str(ScheduleStatus(self.timing).label).lower()

    @property
    def crontab_problem(self) -> str:
        """The crontab's part of the problems ("" when the line is right)."""
        if self.crontab_ok:
            return ""
        return _("crontab %(words)s") % {"words": self.crontab_words}

    @property
    def timing_problems(self) -> list[str]:
        crontab_problem = self.crontab_problem
        return [p for p in self.problems if p != crontab_problem]


def collect(now: dt.datetime | None = None) -> list[Schedule]:
    now = now or timezone.now()
    dispatches = list(
        Dispatch.objects.select_related("paused_by", "model").order_by("name")
    )
    try:
        entries = crontab.managed_entries()
        crontab_error = ""
    except crontab.CrontabError as exc:
        entries, crontab_error = {}, str(exc)
    drifts = latest_by_dispatch(d.pk for d in dispatches)
    schedules = []
    for dispatch in dispatches:
        state = (
            crontab.EntryState.ERROR
            if crontab_error
            else crontab.entry_state(dispatch, entries)
        )
        timing, due = dispatch.schedule_timing(now)
        if state == crontab.EntryState.MISMATCH:
            # Cron follows the installed line, not the database.
            next_run = installed_next_run(entries[dispatch.pk], dispatch, now)
        else:
            next_run = dispatch.next_run() if state == crontab.EntryState.OK else None
        schedule = Schedule(
            dispatch=dispatch,
            crontab_state=state,
            crontab_error=crontab_error,
            last_run=dispatch.last_run(),
            next_run=next_run,
            timing=timing,
            due=due,
            watched_since=dispatch.watched_since(),
            never_fires=dispatch.never_fires(),
            drift=drifts.get(dispatch.pk),
        )
        schedule.problems = _problems(schedule)
        schedules.append(schedule)
    return schedules


def installed_next_run(
    line: str, dispatch: Dispatch, now: dt.datetime
) -> dt.datetime | None:
    """When cron will really fire an installed line, in the dispatch's timezone."""
    fields = line.split()
    expression = (
        fields[0] if fields[:1] and fields[0].startswith("@") else " ".join(fields[:5])
    )
    found = schedule_times.next_times(
        expression, settings.CONFIG.cron.timezone, 1, after=now
    )
    return found[0].astimezone(dispatch.tz) if found else None


def _problems(schedule: Schedule) -> list[str]:
    problems = []
    if not schedule.crontab_ok:
        problems.append(schedule.crontab_problem)
    if schedule.timing == ScheduleStatus.NEVER_FIRES:
        problems.append(schedule.never_fires)
    elif schedule.timing == ScheduleStatus.LATE:
        problems.append(
            _("late: due at %(due)s, no run has started")
            % {"due": _local(schedule.due)}
        )
    elif schedule.timing == ScheduleStatus.MISSED:
        problems.append(
            _("missed: the run due at %(due)s never started")
            % {"due": _local(schedule.due)}
        )
    return problems


def _local(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M %Z}" if moment else ""


def mismatched(schedules: list[Schedule]) -> bool:
    return any(not s.crontab_ok for s in schedules)


def never_firing(dispatches=None, *, details: bool = False) -> dict:
    """The "schedules" part of /healthz: how many schedules never fire; which
    and why only with details. It never changes the status a load balancer
    reads, and a database that cannot be read is said, not raised."""
    try:
        found = [
            (d, reason)
            for d in (Dispatch.objects.all() if dispatches is None else dispatches)
            if (reason := d.never_fires())
        ]
    except DatabaseError:
        return {"never_fires": None, "error": "the dispatches cannot be read"}
    body: dict = {"never_fires": len(found)}
    if details:
        body["dispatches"] = [
            {
                "name": d.name,
                "status": "never fires",
                "enabled": d.enabled,
                "error": reason,
            }
            for d, reason in found
        ]
    return body


# --------------------------------------------------------------------------
# Alert findings
# --------------------------------------------------------------------------


def findings(schedules: list[Schedule]) -> list[Finding]:
    config = settings.CONFIG.alerts
    result = []
    for schedule in schedules:
        dispatch = schedule.dispatch
        finished = list(
            dispatch.runs.filter(
                status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED]
            ).order_by("-id")[
                : max(config.consecutive_failures, config.low_rows_history + 1)
            ]
        )
        result.append(_failures(dispatch, finished, config.consecutive_failures))
        result.append(_rows(dispatch, finished, config))
        result.append(_late(schedule))
    return result


def subject(dispatch: Dispatch) -> str:
    """How alerts name a dispatch."""
    return _("dispatch %(name)s (#%(pk)s)") % {"name": dispatch.name, "pk": dispatch.pk}


def _failures(dispatch: Dispatch, finished: list[DispatchRun], limit: int) -> Finding:
    recent = finished[:limit]
    failing = len(recent) == limit and all(
        run.status == RunStatus.FAILED for run in recent
    )
    if failing:
        detail = _(
            "the last %(limit)s runs failed; the latest (run %(run)s): %(error)s"
        ) % {
            "limit": limit,
            "run": recent[0].pk,
            "error": recent[0].error.splitlines()[0][:300]
            if recent[0].error
            else _("no error text"),
        }
    else:
        detail = _("the latest runs did not all fail")
    return Finding(
        key=f"dispatch:{dispatch.pk}:failures",
        rule=Rule.CONSECUTIVE_FAILURES,
        subject=subject(dispatch),
        failing=failing,
        detail=detail,
        dispatch_id=dispatch.pk,
    )


def _rows(dispatch: Dispatch, finished: list[DispatchRun], config) -> Finding:
    succeeded = [run for run in finished if run.status == RunStatus.SUCCEEDED]
    failing, detail = False, _("no successful run yet")
    if succeeded:
        latest, earlier = succeeded[0], succeeded[1 : config.low_rows_history + 1]
        detail = _("run %(run)s wrote %(rows)s rows") % {
            "run": latest.pk,
            "rows": latest.rows_written,
        }
        if latest.rows_written == 0:
            failing = True
            detail = _("run %(run)s succeeded but wrote no rows (it read %(read)s)") % {
                "run": latest.pk,
                "read": latest.rows_read,
            }
        elif len(earlier) >= 2:
            usual = statistics.median(run.rows_written for run in earlier)
            if latest.rows_written < config.low_rows_fraction * usual:
                failing = True
                detail = _(
                    "run %(run)s wrote %(rows)s rows, far fewer than the usual "
                    "%(usual)s (median of the %(count)s runs before it)"
                ) % {
                    "run": latest.pk,
                    "rows": latest.rows_written,
                    "usual": f"{usual:g}",
                    "count": len(earlier),
                }
    return Finding(
        key=f"dispatch:{dispatch.pk}:rows",
        rule=Rule.LOW_ROWS,
        subject=subject(dispatch),
        failing=failing,
        detail=detail,
        dispatch_id=dispatch.pk,
    )


def _late(schedule: Schedule) -> Finding:
    failing = schedule.timing in FLAGGED_STATUSES
    return Finding(
        key=f"dispatch:{schedule.dispatch.pk}:late",
        rule=Rule.LATE_RUN,
        subject=subject(schedule.dispatch),
        failing=failing,
        detail=(
            "; ".join(schedule.timing_problems)
            if failing
            else _("timing: %(words)s") % {"words": schedule.timing_words}
        ),
        dispatch_id=schedule.dispatch.pk,
    )
