"""Cron expressions: validation, plain-words descriptions, timezones.

The cron daemon fires in its own timezone (config cron.timezone); a dispatch
fires in its own. When they differ, the hour field is shifted by the current
offset (`crontab sync` re-shifts after a daylight-saving change).

Every next/previous time goes through `_times`, which follows the cron daemon
(Debian's Vixie cron), and `never_fires` decides whether a schedule runs at
all; nothing else here or in the pages calls croniter for times.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import zoneinfo

from cron_descriptor import Options, get_description
from croniter import CroniterBadDateError, croniter
from django.conf import settings
from django.utils import timezone

# A schedule with no run within this many years is refused as "never fires".
HORIZON_YEARS = 5


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
    _refuse_backward_ranges(normalised)
    reason = never_fires(normalised)
    if reason:
        raise ScheduleError(reason)
    return normalised


FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")


def _refuse_backward_ranges(expression: str) -> None:
    # croniter wraps 5-2 around; cron (and python-crontab) refuse it, so the
    # form must too, or the dispatch saves and then cannot be installed.
    for name, value in zip(FIELD_NAMES, expression.split(), strict=True):
        for part in value.split(","):
            low, _, high = part.split("/")[0].partition("-")
            if low.isdigit() and high.isdigit() and int(low) > int(high):
                raise ScheduleError(
                    f"{expression!r}: the {name} range {low}-{high} runs backwards; "
                    f"cron needs the low end first (e.g. {high}-{low})"
                )


def _times(expression: str, start: dt.datetime, **options) -> croniter:
    # Vixie cron (Debian's) ANDs day of month and day of week when either
    # field starts with "*" (even "*/2"); croniter ORs them unless told.
    return croniter(expression, start, implement_cron_bug=True, **options)


def never_fires(
    expression: str, tz: str = "UTC", now: dt.datetime | None = None
) -> str:
    """Why `expression` has no run in the next HORIZON_YEARS years ("" if it has).

    Whether it fires does not depend on the timezone beyond an hour or two at
    the horizon; `tz` only sets where the search starts.
    """
    try:
        start = (now or timezone.now()).astimezone(zoneinfo.ZoneInfo(tz))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"{tz!r} is not a known IANA timezone, so it never fires"
    try:
        following = _times(
            expression, start, max_years_between_matches=HORIZON_YEARS
        ).get_next(dt.datetime)
    except CroniterBadDateError:
        following = None
    except (ValueError, KeyError):
        # A row written around the form: unusable, so it never fires either.
        return f"{expression!r} is not a valid cron expression, so it never fires"
    horizon = start + dt.timedelta(days=366 * HORIZON_YEARS)
    if following is not None and following <= horizon:
        return ""
    why = _missing_days(expression)
    return f"{expression} never fires: " + (
        why or f"it has no run in the next {HORIZON_YEARS} years"
    )


def _missing_days(expression: str) -> str:
    """Words like "February has no 31st" when no listed day is in a listed month."""
    try:
        _, _, days, months, weekdays = croniter(expression).expanded
    except (ValueError, KeyError):
        return ""
    dow_field = expression.split()[4]
    if weekdays != ["*"] and not dow_field.startswith("*"):
        return ""  # cron ORs the days of the week in: those always come
    if not all(isinstance(v, int) for v in [*days, *months]):
        return ""  # "*" or "L": there is such a day
    # 2024 is a leap year: February's longest.
    if any(day <= calendar.monthrange(2024, m)[1] for day in days for m in months):
        return ""
    names = [calendar.month_name[m] for m in months]
    verb = "has" if len(names) == 1 else "have"
    return f"{_listed(names, 'and')} {verb} no {_listed([_nth(d) for d in days], 'or')}"


def _nth(day: int) -> str:
    if 11 <= day <= 13:
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


def _listed(words: list[str], conjunction: str) -> str:
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


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
    """Up to `count` next times, aware, in `tz`; fewer (none) when it stops firing."""
    found = []
    # Bad dates: it stops firing. Bad syntax or zone: a row written around the
    # form, which never_fires names; neither may break a page.
    with contextlib.suppress(ValueError, KeyError):
        start = (after or timezone.now()).astimezone(zoneinfo.ZoneInfo(tz))
        schedule = _times(expression, start)
        for _ in range(count):
            found.append(schedule.get_next(dt.datetime))
    return found


def previous_time(expression: str, tz: str, now: dt.datetime) -> dt.datetime | None:
    """The last time it fired at or before `now`, in `tz`; None if none in years."""
    # croniter's get_prev excludes a start that matches exactly; nudge it.
    try:
        start = now.astimezone(zoneinfo.ZoneInfo(tz))
        return _times(expression, start + dt.timedelta(seconds=1)).get_prev(dt.datetime)
    except (ValueError, KeyError):  # as in next_times
        return None


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
