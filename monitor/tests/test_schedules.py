"""Schedule states: crontab line, paused, last and next run, late and missed."""

import datetime as dt
import zoneinfo

import pytest
import time_machine

from dispatch import crontab
from dispatch import services as dispatch_services
from dispatch.models import ScheduleStatus
from monitor import schedules

pytestmark = pytest.mark.django_db(databases=["default", "events"])

# A Monday, 08:05 UTC; the dispatches run hourly at :05 with 10 minutes of
# grace, created a minute after a slot.
T0 = dt.datetime(2026, 3, 2, 8, 5, tzinfo=dt.UTC)


def at(hours=0, minutes=0):
    return T0 + dt.timedelta(hours=hours, minutes=minutes)


@pytest.fixture
def hourly(make_dispatch):
    with time_machine.travel(at(minutes=1), tick=False):
        return make_dispatch(enabled=True, cron="5 * * * *")


def timing(dispatch, now):
    [row] = [s for s in schedules.collect(now) if s.dispatch.pk == dispatch.pk]
    return row


def test_before_the_first_slot_it_is_waiting(hourly):
    assert timing(hourly, at(minutes=30)).timing == ScheduleStatus.WAITING


def test_within_the_grace_time_a_slot_is_due(hourly):
    row = timing(hourly, at(hours=1, minutes=5))
    assert row.timing == ScheduleStatus.DUE
    assert row.due == at(hours=1)
    assert not row.timing_problems


def test_past_the_grace_time_without_a_run_it_is_late(hourly):
    row = timing(hourly, at(hours=1, minutes=11))
    assert row.timing == ScheduleStatus.LATE
    assert row.timing_problems == [
        "late: due at 2026-03-02 09:05 UTC, no run has started"
    ]


def test_once_the_next_slot_came_the_run_is_missed(hourly):
    row = timing(hourly, at(hours=2, minutes=3))
    assert row.timing == ScheduleStatus.MISSED
    assert row.due == at(hours=1)
    assert "missed: the run due at 2026-03-02 09:05 UTC never started" in row.problems


def test_a_run_since_the_slot_is_on_time(hourly, make_run):
    with time_machine.travel(at(hours=1, minutes=1), tick=False):
        make_run(hourly, scheduled_for=at(hours=1))
    assert timing(hourly, at(hours=1, minutes=30)).timing == ScheduleStatus.ON_TIME
    # ...and a missed run is forgiven once a later run happened.
    with time_machine.travel(at(hours=3, minutes=2), tick=False):
        make_run(hourly)
    assert timing(hourly, at(hours=3, minutes=20)).timing == ScheduleStatus.ON_TIME


def test_a_paused_dispatch_is_paused_with_no_next_run(hourly, operator):
    dispatch_services.disable(hourly, operator, "maintenance window")
    row = timing(hourly, at(hours=5))
    assert row.timing == ScheduleStatus.PAUSED and row.paused
    assert row.next_run is None
    assert row.dispatch.paused_by == operator
    assert row.dispatch.pause_reason == "maintenance window"
    assert row.crontab_state == "ok" and not row.problems


def test_time_spent_paused_is_not_missed(hourly, operator):
    with time_machine.travel(at(hours=1, minutes=1), tick=False):
        dispatch_services.disable(hourly, operator)
    with time_machine.travel(at(hours=5, minutes=50), tick=False):
        hourly.refresh_from_db()
        dispatch_services.enable(hourly, operator)
    # The 14:05 slot came after enabling: due, then late; nothing before counts.
    assert timing(hourly, at(hours=5, minutes=55)).timing == ScheduleStatus.WAITING
    assert timing(hourly, at(hours=6, minutes=5)).timing == ScheduleStatus.DUE
    assert timing(hourly, at(hours=6, minutes=11)).timing == ScheduleStatus.LATE


def test_the_next_run_is_true_and_in_the_dispatch_timezone(make_dispatch, operator):
    dispatch = make_dispatch(cron="30 6 * * *", timezone="America/Sao_Paulo")
    dispatch_services.enable(dispatch, operator)
    with time_machine.travel(dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)):
        row = timing(dispatch, None)
        assert row.crontab_state == "ok"
        assert row.next_run == dt.datetime(
            2026, 3, 3, 6, 30, tzinfo=zoneinfo.ZoneInfo("America/Sao_Paulo")
        )
        assert row.next_run.tzinfo.key == "America/Sao_Paulo"


def test_a_missing_crontab_line_means_no_next_run(make_dispatch, operator):
    dispatch = make_dispatch()
    dispatch_services.enable(dispatch, operator)
    crontab.remove(dispatch.pk)  # someone edited the crontab by hand
    row = timing(dispatch, None)
    assert row.crontab_state == "missing"
    assert row.next_run is None
    assert row.problems[0] == "crontab line missing: cron will not run it"
    assert schedules.mismatched([row])


def test_a_line_left_while_paused_is_unexpected(make_dispatch):
    dispatch = make_dispatch(enabled=True)
    crontab.install(dispatch)
    dispatch.enabled = False
    dispatch.save()
    row = timing(dispatch, None)
    assert row.crontab_state == "unexpected"
    assert "cron still runs it" in row.crontab_words


def test_an_edited_line_is_a_mismatch(make_dispatch, operator):
    dispatch = make_dispatch()
    dispatch_services.enable(dispatch, operator)
    dispatch.cron = "15 * * * *"
    dispatch.save()  # behind the services' back: the line still says 5 * * * *
    with time_machine.travel(dt.datetime(2026, 3, 2, 12, 20, tzinfo=dt.UTC)):
        row = timing(dispatch, None)
    assert row.crontab_state == "mismatch"
    # The true next run is the installed line's (:05), not the database's (:15).
    assert row.next_run == dt.datetime(2026, 3, 2, 13, 5, tzinfo=dt.UTC)
    crontab.sync()
    assert timing(dispatch, None).crontab_state == "ok"


def test_the_last_run_is_the_newest(hourly, make_run):
    make_run(hourly, status="failed", rows=0)
    newest = make_run(hourly, rows=344)
    assert timing(hourly, None).last_run == newest
