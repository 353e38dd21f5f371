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
from django.utils import timezone, translation
from django.utils.dates import MONTHS, WEEKDAYS
from django.utils.translation import gettext as _

# A schedule with no run within this many years is refused as "never fires".
HORIZON_YEARS = 5


class ScheduleError(ValueError):
    """A cron expression or timezone that cannot be used; str() says why."""


def validate(expression: str) -> str:
    """The expression, normalised to single spaces; ScheduleError if bad."""
    fields = (expression or "").split()
    if len(fields) != 5:
        raise ScheduleError(
            _(
                "%(expression)r is not a cron expression: it needs 5 fields "
                "(minute hour day-of-month month day-of-week), e.g. */5 * * * *"
            )
            % {"expression": expression}
        )
    normalised = " ".join(fields)
    if not croniter.is_valid(normalised):
        raise ScheduleError(
            _("%(expression)r is not a valid cron expression")
            % {"expression": normalised}
        )
    _refuse_backward_ranges(normalised)
    reason = never_fires(normalised)
    if reason:
        raise ScheduleError(reason)
    return normalised


FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")


def _field_words(name: str) -> str:
    return {
        "minute": _("minute"),
        "hour": _("hour"),
        "day-of-month": _("day-of-month"),
        "month": _("month"),
        "day-of-week": _("day-of-week"),
    }[name]


def _refuse_backward_ranges(expression: str) -> None:
    # croniter wraps 5-2 around; cron (and python-crontab) refuse it, so the
    # form must too, or the dispatch saves and then cannot be installed.
    for name, value in zip(FIELD_NAMES, expression.split(), strict=True):
        for part in value.split(","):
            low, _dash, high = part.split("/")[0].partition("-")
            if low.isdigit() and high.isdigit() and int(low) > int(high):
                raise ScheduleError(
                    _(
                        "%(expression)r: the %(field)s range %(low)s-%(high)s "
                        "runs backwards; cron needs the low end first "
                        "(e.g. %(high)s-%(low)s)"
                    )
                    % {
                        "expression": expression,
                        "field": _field_words(name),
                        "low": low,
                        "high": high,
                    }
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
        return _("%(tz)r is not a known IANA timezone, so it never fires") % {"tz": tz}
    try:
        following = _times(
            expression, start, max_years_between_matches=HORIZON_YEARS
        ).get_next(dt.datetime)
    except CroniterBadDateError:
        following = None
    except (ValueError, KeyError):
        # A row written around the form: unusable, so it never fires either.
        return _("%(expression)r is not a valid cron expression, so it never fires") % {
            "expression": expression
        }
    horizon = start + dt.timedelta(days=366 * HORIZON_YEARS)
    if following is not None and following <= horizon:
        return ""
    why = _missing_days(expression)
    return _("%(expression)s never fires: %(why)s") % {
        "expression": expression,
        "why": why
        or _("it has no run in the next %(years)s years") % {"years": HORIZON_YEARS},
    }


def _missing_days(expression: str) -> str:
    """Words like "February has no 31st" when no listed day is in a listed month."""
    try:
        _minutes, _hours, days, months, weekdays = croniter(expression).expanded
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
    names = [str(MONTHS[m]) for m in months]
    if translation.get_language() not in (None, "en"):
        names = [name.lower() for name in names]
    days_words = _listed([_nth(d) for d in days], _("or"))
    if len(names) == 1:
        return _("%(months)s has no %(days)s") % {
            "months": names[0],
            "days": days_words,
        }
    return _("%(months)s have no %(days)s") % {
        "months": _listed(names, _("and")),
        "days": days_words,
    }


def _nth(day: int) -> str:
    if translation.get_language() != "en" and translation.get_language():
        # Only English writes ordinals with suffixes; pt-BR says "dia 31".
        return _("day %(day)s") % {"day": day}
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
            _("%(name)r is not a known IANA timezone (e.g. UTC, America/Sao_Paulo)")
            % {"name": name}
        ) from None
    return name


# cron_descriptor's catalogue closest to each interface language (it has no
# pt_BR; its pt_PT words read as Brazilian for schedules).
DESCRIPTOR_LOCALES = {"en": "en_US", "pt-br": "pt_PT"}


def describe(expression: str, tz: str = "UTC") -> str:
    """The schedule in plain words, in the active language."""
    language = translation.get_language() or "en"
    options = Options(locale_code=DESCRIPTOR_LOCALES.get(language, "en_US"))
    options.use_24hour_time_format = True
    try:
        words = get_description(expression, options)
    except Exception:
        return expression
    if language != "en":
        words = _local_names(words)
    return f"{words} ({tz})"


def _local_names(words: str) -> str:
    """Day and month names in the active language: cron_descriptor takes
    them from the process's C locale (English), Django has them translated."""
    # Portuguese writes them in lower case inside a sentence.
    for number, name in enumerate(calendar.day_name):
        words = words.replace(name, str(WEEKDAYS[number]).lower())
    for number in range(12, 0, -1):
        words = words.replace(calendar.month_name[number], str(MONTHS[number]).lower())
    return words


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
            _(
                "the timezone %(tz)s is not a whole number of hours from the cron "
                "daemon's (%(daemon)s); use %(daemon)s for this schedule"
            )
            % {"tz": tz, "daemon": settings.CONFIG.cron.timezone}
        )
    if hour == "*":
        return expression
    hours = croniter(expression).expanded[1]
    shifted = [(h - minutes // 60) % 24 for h in hours]
    wraps = any(s != h - minutes // 60 for s, h in zip(shifted, hours, strict=True))
    if wraps and (dom, month, dow) != ("*", "*", "*"):
        raise ScheduleError(
            _(
                "in %(tz)s this schedule crosses midnight of the cron daemon's "
                "timezone (%(daemon)s) on restricted days; write it in %(daemon)s"
            )
            % {"tz": tz, "daemon": settings.CONFIG.cron.timezone}
        )
    return " ".join(
        [minute, ",".join(str(h) for h in sorted(set(shifted))), dom, month, dow]
    )
