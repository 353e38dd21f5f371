"""Cron expressions: a schedule that never fires is refused with the reason,
and every accepted one has a next run (a hypothesis property)."""

import datetime as dt

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dispatch import crontab, schedule
from dispatch.forms import SchedulePreviewForm
from dispatch.models import Dispatch

NOW = dt.datetime(2026, 3, 2, 8, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 0 31 2 *", "0 0 31 2 * never fires: February has no 31st"),
        ("0 0 30 2 *", "0 0 30 2 * never fires: February has no 30th"),
        ("0 0 30,31 2 *", "0 0 30,31 2 * never fires: February has no 30th or 31st"),
        (
            "15 6 31 2,4,6 *",
            "15 6 31 2,4,6 * never fires: February, April and June have no 31st",
        ),
        # Vixie cron ANDs the day fields when one starts with "*".
        ("0 0 31 11 */2", "0 0 31 11 */2 never fires: November has no 31st"),
        ("0 0 31 2 1#5", "0 0 31 2 1#5 never fires: it has no run in the next 5 years"),
    ],
)
def test_it_names_why_a_schedule_never_fires(expression, reason):
    assert schedule.never_fires(expression, "UTC", now=NOW) == reason
    with pytest.raises(schedule.ScheduleError, match=f"^{reason.replace('*', '[*]')}$"):
        schedule.validate(expression)
    assert schedule.next_times(expression, "UTC", after=NOW) == []
    assert schedule.previous_time(expression, "UTC", NOW) is None


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 29 2 *",  # leap days: the next one is within the horizon
        "0 0 31 2 1",  # day fields ORed: every Monday of February
        "0 0 L 2 *",
        "*/5 * * * *",
    ],
)
def test_a_rare_or_ored_schedule_fires(expression):
    assert schedule.never_fires(expression, "America/Sao_Paulo", now=NOW) == ""
    assert schedule.validate(expression) == expression
    assert schedule.next_times(expression, "America/Sao_Paulo", 2, after=NOW)


def test_next_times_follow_the_cron_daemon_on_starred_day_fields():
    # Odd days that are Mondays, as Vixie cron runs it (croniter alone would
    # give every odd day and every Monday).
    runs = schedule.next_times("0 0 */2 * 1", "UTC", 3, after=NOW)
    assert [r.date().isoformat() for r in runs] == [
        "2026-03-09",
        "2026-03-23",
        "2026-04-13",
    ]


def test_a_backward_range_is_refused_as_cron_refuses_it():
    with pytest.raises(schedule.ScheduleError, match="minute range 5-2 runs backwards"):
        schedule.validate("5-2 * * * *")
    assert schedule.validate("2-5/2 * * * 1-5") == "2-5/2 * * * 1-5"


def test_a_row_written_around_the_form_never_fires_in_words():
    assert "not a valid cron expression" in schedule.never_fires("99 * * * *")
    assert "not a known IANA timezone" in schedule.never_fires("* * * * *", "Mars/X")
    assert schedule.next_times("99 * * * *", "UTC") == []
    assert schedule.next_times("* * * * *", "Mars/X") == []


# -- the property: accepted means it has a next run ----------------------------


def _part(low: int, high: int, backwards: bool):
    number = st.integers(low, high)
    pair = st.tuples(number, number).map(lambda r: r if backwards else sorted(r))
    step = st.integers(1, high - low + 1)
    return st.one_of(
        number.map(str),
        st.just("*"),
        pair.map(lambda r: f"{r[0]}-{r[1]}"),
        step.map(lambda s: f"*/{s}"),
        st.tuples(pair, step).map(lambda r: f"{r[0][0]}-{r[0][1]}/{r[1]}"),
    )


def _field(low: int, high: int, backwards: bool = False):
    parts = st.lists(_part(low, high, backwards), min_size=1, max_size=3)
    return parts.map(",".join)


def _listed(values):
    return st.lists(st.sampled_from(values), min_size=1, max_size=3).map(
        lambda v: ",".join(str(n) for n in v)
    )


# Any fields in bounds (backward ranges in the minutes, which cron refuses),
# mixed with the rare ones: the last days of the month, the short months, and
# the day-of-week fields cron ANDs in ("*", "*/n").
expressions = st.tuples(
    _field(0, 59, backwards=True),
    _field(0, 23),
    st.one_of(_field(1, 31), _listed([29, 30, 31])),
    st.one_of(_field(1, 12), _listed([2, 4, 6, 9, 11])),
    st.one_of(_field(0, 7), st.just("*"), st.integers(1, 7).map("*/{}".format)),
).map(" ".join)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(expression=expressions, zone=st.sampled_from(["UTC", "America/Sao_Paulo"]))
def test_every_accepted_schedule_has_a_next_run(expression, zone):
    # Only the validator's own error may come out of it.
    try:
        schedule.validate(expression)
    except schedule.ScheduleError as exc:
        event("refused: never fires" if "never fires" in str(exc) else "refused")
    form = SchedulePreviewForm({"cron": expression, "timezone": zone})
    if not form.is_valid():
        assert list(form.errors) == ["cron"], form.errors
        return
    event("accepted")
    accepted = form.cleaned_data["cron"]
    [following] = schedule.next_times(accepted, zone, 1)
    assert following > dt.datetime.now(dt.UTC)
    assert form.preview()["next_runs"]
    # ...and cron takes it (in the daemon's own zone, so no hour shift).
    daemon_zone = django_settings.CONFIG.cron.timezone
    assert crontab.line_for(
        Dispatch(pk=1, name="p", cron=accepted, timezone=daemon_zone)
    )
