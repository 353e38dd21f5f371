"""Cron expressions: validation, plain-words descriptions, timezones.

The cron daemon fires in its own timezone (config cron.timezone); a dispatch
fires in its own. When they differ, the hour field is shifted by the current
offset (`crontab sync` re-shifts after a daylight-saving change).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from cron_descriptor import Options, get_description
from croniter import croniter
from django.conf import settings
from django.utils import timezone


class ScheduleError(ValueError):
    """A cron expression or timezone that cannot be used; str() says why."""


def validate(expression: str) -> str:
    """The expression, normalised to single spaces; ScheduleError if bad."""
    fields = (expression or "").split()
    if len(fields) != 5:
        raise ScheduleError(
            f"{expression!r} is not a cron expression: it needs 5 fields "
            "(minute hour day-of-month month day-of-week), e.g. */5 * * * *"
        )
    normalised = " ".join(fields)
    if not croniter.is_valid(normalised):
        raise ScheduleError(f"{normalised!r} is not a valid cron expression")
    return normalised


def validate_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"{name!r} is not a known IANA timezone (e.g. UTC, America/Sao_Paulo)"
        ) from None
    return name


def describe(expression: str, tz: str = "UTC") -> str:
    options = Options()
    options.use_24hour_time_format = True
    try:
        words = get_description(expression, options)
    except Exception:
        return expression
    return f"{words} ({tz})"


def next_times(expression: str, tz: str, count: int = 5, after=None) -> list:
    start = (after or timezone.now()).astimezone(zoneinfo.ZoneInfo(tz))
    schedule = croniter(expression, start)
    return [schedule.get_next(dt.datetime) for _ in range(count)]


def for_cron_daemon(expression: str, tz: str, now: dt.datetime | None = None) -> str:
    """The expression to install so cron fires at `expression` in `tz`."""
    expression = validate(expression)
    now = now or timezone.now()
    daemon_tz = zoneinfo.ZoneInfo(settings.CONFIG.cron.timezone)
    offset = (
        now.astimezone(zoneinfo.ZoneInfo(tz)).utcoffset()
        - now.astimezone(daemon_tz).utcoffset()
    )
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return expression
    minute, hour, dom, month, dow = expression.split()
    if minutes % 60:
        raise ScheduleError(
            f"the timezone {tz} is not a whole number of hours from the cron "
            f"daemon's ({settings.CONFIG.cron.timezone}); use "
            f"{settings.CONFIG.cron.timezone} for this schedule"
        )
    if hour == "*":
        return expression
    hours = croniter(expression).expanded[1]
    shifted = [(h - minutes // 60) % 24 for h in hours]
    wraps = any(s != h - minutes // 60 for s, h in zip(shifted, hours, strict=True))
    if wraps and (dom, month, dow) != ("*", "*", "*"):
        raise ScheduleError(
            f"in {tz} this schedule crosses midnight of the cron daemon's timezone "
            f"({settings.CONFIG.cron.timezone}) on restricted days; write it in "
            f"{settings.CONFIG.cron.timezone}"
        )
    return " ".join(
        [minute, ",".join(str(h) for h in sorted(set(shifted))), dom, month, dow]
    )
