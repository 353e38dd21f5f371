"""The state of every dispatch's schedule, as the Monitor shows it.

For each dispatch: its crontab line (present and matching the database?),
enabled or paused (by whom, when, why), the last run, the true next run (what
cron will actually do: none when paused or when the line is missing), and
whether a run is late or missed.

A run is *late* when the last time cron should have fired plus the dispatch's
grace time has passed and no run has started since; it is *missed* when the
next time has come too and that run still never happened. Only time since the
dispatch was created, edited or enabled counts. A schedule with no run in the
coming years (saved before the form refused those) *never fires*: flagged,
with no crontab line, and it does not stop the other dispatches' checks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import statistics
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from dispatch import crontab
from dispatch import schedule as schedule_times
from dispatch.models import Dispatch, DispatchRun, RunStatus
from monitor.alerts import Finding
from monitor.models import Rule


class Timing:
    PAUSED = "paused"
    WAITING = "waiting"  # nothing was due since it was enabled
    ON_TIME = "on_time"
    DUE = "due"  # due, still within its grace time
    LATE = "late"
    MISSED = "missed"
    NEVER_FIRES = "never_fires"

    FLAGGED = (LATE, MISSED, NEVER_FIRES)


CRONTAB_WORDS = {
    "ok": "line present and matching",
    "missing": "line missing: cron will not run it",
    "mismatch": "line differs from the database",
    "unexpected": "line present although paused: cron still runs it",
    "error": "crontab unreadable",
    "never_fires": "no line: the schedule never fires",
}


@dataclass
class Schedule:
    dispatch: Dispatch
    crontab_state: str
    crontab_error: str
    last_run: DispatchRun | None
    next_run: dt.datetime | None
    timing: str
    due: dt.datetime | None  # the slot the timing is about
    watched_since: dt.datetime
    never_fires: str = ""  # why the schedule has no run in the coming years
    problems: list[str] = field(default_factory=list)

    @property
    def crontab_words(self) -> str:
        return self.crontab_error or CRONTAB_WORDS.get(self.crontab_state, "")

    @property
    def crontab_ok(self) -> bool:
        # A never-firing schedule is meant to have no line; its own problem says so.
        return self.crontab_state in ("ok", "never_fires")

    @property
    def flagged(self) -> bool:
        return bool(self.problems)

    @property
    def paused(self) -> bool:
        return not self.dispatch.enabled

    @property
    def timing_words(self) -> str:
        return self.timing.replace("_", " ")

    @property
    def timing_problems(self) -> list[str]:
        return [p for p in self.problems if not p.startswith("crontab")]


def _enabled_since() -> dict[int, dt.datetime]:
    """When each dispatch was last enabled, from the dispatch events.

    Enabling does not touch Dispatch.updated, and time spent paused must not
    count as missed runs. The event log may be down: then this is empty and
    only created/updated count.
    """
    from mlframework.events.models import Event

    found: dict[int, dt.datetime] = {}
    with contextlib.suppress(Exception):
        events = (
            Event.objects.using("events")
            .filter(source="dispatch", kind__in=["enabled", "resumed_all"])
            .order_by("-created")
            .values_list("data", "created")[:1000]
        )
        for data, created in events:
            data = data or {}
            ids = data.get("dispatches") or [data.get("dispatch")]
            for pk in ids:
                if isinstance(pk, int) and pk not in found:
                    found[pk] = created
    return found


def timing_of(
    dispatch: Dispatch, now: dt.datetime, watched_since: dt.datetime
) -> tuple[str, dt.datetime | None]:
    """(timing, the slot it is about) for one dispatch at `now`."""
    if not dispatch.enabled:
        return Timing.PAUSED, None
    if dispatch.never_fires():
        return Timing.NEVER_FIRES, None
    grace = dt.timedelta(minutes=dispatch.grace_minutes)
    latest = dispatch.previous_due(now)
    # The newest slot whose grace time is over: it must have a run by now.
    settled = dispatch.previous_due(now - grace)
    if latest is None or settled is None:
        return Timing.WAITING, None  # it fires soon but has not fired for years

    def ran_since(moment: dt.datetime) -> bool:
        return dispatch.runs.filter(
            Q(scheduled_for__gte=moment) | Q(created__gte=moment)
        ).exists()

    if settled >= watched_since and not ran_since(settled):
        return (Timing.LATE if latest == settled else Timing.MISSED), settled
    if latest >= watched_since and latest > settled and not ran_since(latest):
        return Timing.DUE, latest
    if latest < watched_since:
        return Timing.WAITING, None
    return Timing.ON_TIME, latest


def collect(now: dt.datetime | None = None) -> list[Schedule]:
    now = now or timezone.now()
    dispatches = list(Dispatch.objects.select_related("paused_by").order_by("name"))
    try:
        entries = crontab.managed_entries()
        crontab_error = ""
    except crontab.CrontabError as exc:
        entries, crontab_error = {}, str(exc)
    enabled_since = _enabled_since()
    schedules = []
    for dispatch in dispatches:
        watched_since = max(
            filter(
                None,
                [dispatch.created, dispatch.updated, enabled_since.get(dispatch.pk)],
            )
        )
        state = "error" if crontab_error else crontab.entry_state(dispatch, entries)
        timing, due = timing_of(dispatch, now, watched_since)
        if state == "mismatch":
            # Cron follows the installed line, not the database.
            next_run = installed_next_run(entries[dispatch.pk], dispatch, now)
        else:
            next_run = dispatch.next_run() if state == "ok" else None
        schedule = Schedule(
            dispatch=dispatch,
            crontab_state=state,
            crontab_error=crontab_error,
            last_run=dispatch.last_run(),
            next_run=next_run,
            timing=timing,
            due=due,
            watched_since=watched_since,
            never_fires=dispatch.never_fires(),
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
        problems.append(f"crontab {schedule.crontab_words}")
    if schedule.timing == Timing.NEVER_FIRES:
        problems.append(schedule.never_fires)
    elif schedule.timing == Timing.LATE:
        problems.append(f"late: due at {_local(schedule.due)}, no run has started")
    elif schedule.timing == Timing.MISSED:
        problems.append(f"missed: the run due at {_local(schedule.due)} never started")
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


def _subject(dispatch: Dispatch) -> str:
    return f"dispatch {dispatch.name} (#{dispatch.pk})"


def _failures(dispatch: Dispatch, finished: list[DispatchRun], limit: int) -> Finding:
    recent = finished[:limit]
    failing = len(recent) == limit and all(
        run.status == RunStatus.FAILED for run in recent
    )
    if failing:
        detail = f"the last {limit} runs failed; the latest (run {recent[0].pk}): " + (
            recent[0].error.splitlines()[0][:300]
            if recent[0].error
            else "no error text"
        )
    else:
        detail = "the latest runs did not all fail"
    return Finding(
        key=f"dispatch:{dispatch.pk}:failures",
        rule=Rule.CONSECUTIVE_FAILURES,
        subject=_subject(dispatch),
        failing=failing,
        detail=detail,
        dispatch_id=dispatch.pk,
    )


def _rows(dispatch: Dispatch, finished: list[DispatchRun], config) -> Finding:
    succeeded = [run for run in finished if run.status == RunStatus.SUCCEEDED]
    failing, detail = False, "no successful run yet"
    if succeeded:
        latest, earlier = succeeded[0], succeeded[1 : config.low_rows_history + 1]
        detail = f"run {latest.pk} wrote {latest.rows_written} rows"
        if latest.rows_written == 0:
            failing = True
            detail = (
                f"run {latest.pk} succeeded but wrote no rows "
                f"(it read {latest.rows_read})"
            )
        elif len(earlier) >= 2:
            usual = statistics.median(run.rows_written for run in earlier)
            if latest.rows_written < config.low_rows_fraction * usual:
                failing = True
                detail = (
                    f"run {latest.pk} wrote {latest.rows_written} rows, far fewer "
                    f"than the usual {usual:g} (median of the {len(earlier)} runs "
                    "before it)"
                )
    return Finding(
        key=f"dispatch:{dispatch.pk}:rows",
        rule=Rule.LOW_ROWS,
        subject=_subject(dispatch),
        failing=failing,
        detail=detail,
        dispatch_id=dispatch.pk,
    )


def _late(schedule: Schedule) -> Finding:
    failing = schedule.timing in Timing.FLAGGED
    return Finding(
        key=f"dispatch:{schedule.dispatch.pk}:late",
        rule=Rule.LATE_RUN,
        subject=_subject(schedule.dispatch),
        failing=failing,
        detail=(
            "; ".join(schedule.timing_problems)
            if failing
            else f"timing: {schedule.timing_words}"
        ),
        dispatch_id=schedule.dispatch.pk,
    )
