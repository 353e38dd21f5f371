"""Dispatch alert rules: consecutive failures, zero or too few rows, late runs."""

import datetime as dt

import pytest
import time_machine
from django.core import mail

from mlframework.config import AlertsConfig
from monitor import alerts, schedules
from monitor.models import AlertState, AlertStatus

pytestmark = pytest.mark.django_db(databases=["default", "events"])

T0 = dt.datetime(2026, 3, 2, 8, 5, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def alert_config(use_config):
    use_config(
        alerts=AlertsConfig(
            email_to=["ops@example.com"],
            consecutive_failures=3,
            low_rows_fraction=0.2,
            low_rows_history=5,
        ),
        hosts=[],
    )


@pytest.fixture
def dispatch(make_dispatch):
    with time_machine.travel(T0 + dt.timedelta(minutes=1), tick=False):
        return make_dispatch(enabled=True, cron="5 * * * *")


def alert_pass(now=None):
    now = now or dt.datetime.now(dt.UTC)
    return alerts.evaluate(schedules.findings(schedules.collect(now)), now)


def fired(notices, rule):
    return [n for n in notices if n.rule == rule and n.state == "fired"]


def test_n_consecutive_failures_alert_once(dispatch, make_run):
    make_run(dispatch, status="succeeded")
    make_run(dispatch, status="failed", error="ODBC: table penguins not found")
    make_run(dispatch, status="failed", error="x")
    assert fired(alert_pass(), "consecutive_failures") == []  # only two in a row
    make_run(dispatch, status="failed", error="sink refused: disk full\nmore")
    [notice] = fired(alert_pass(), "consecutive_failures")
    assert notice.detail.startswith("the last 3 runs failed; the latest (run ")
    assert notice.detail.endswith("sink refused: disk full")
    assert notice.subject == f"dispatch {dispatch.name} (#{dispatch.pk})"
    make_run(dispatch, status="failed")
    assert fired(alert_pass(), "consecutive_failures") == []  # not repeated
    make_run(dispatch, status="succeeded")
    recovered = [n for n in alert_pass() if n.state == "recovered"]
    assert [n.rule for n in recovered] == ["consecutive_failures"]


def test_a_run_that_wrote_no_rows_alerts(dispatch, make_run):
    make_run(dispatch, rows=344)
    assert fired(alert_pass(), "low_rows") == []
    make_run(dispatch, rows=0)
    [notice] = fired(alert_pass(), "low_rows")
    assert "succeeded but wrote no rows" in notice.detail
    state = AlertState.objects.get(key=f"dispatch:{dispatch.pk}:rows")
    assert state.status == AlertStatus.FIRING


def test_far_fewer_rows_than_usual_alert(dispatch, make_run):
    for rows in (1000, 1100, 950, 1020):
        make_run(dispatch, rows=rows)
    make_run(dispatch, rows=300)  # 30 % of the usual: fine
    assert fired(alert_pass(), "low_rows") == []
    make_run(dispatch, rows=150)  # under 20 % of the median 1000
    [notice] = fired(alert_pass(), "low_rows")
    assert "wrote 150 rows, far fewer than the usual" in notice.detail
    make_run(dispatch, rows=990)
    assert [n.state for n in alert_pass()] == ["recovered"]


def test_a_short_history_never_calls_a_count_low(dispatch, make_run):
    make_run(dispatch, rows=1000)
    make_run(dispatch, rows=5)  # one earlier run is no "usual"
    assert fired(alert_pass(), "low_rows") == []


def test_a_late_run_alerts_then_recovers_when_it_runs(dispatch, make_run):
    with time_machine.travel(T0 + dt.timedelta(hours=1, minutes=5), tick=False):
        assert fired(alert_pass(), "late_run") == []  # within grace
    with time_machine.travel(T0 + dt.timedelta(hours=1, minutes=11), tick=False):
        [notice] = fired(alert_pass(), "late_run")
    assert notice.detail == "late: due at 2026-03-02 09:05 UTC, no run has started"
    assert mail.outbox[-1].subject == (
        f"[mlframework] ALERT Late or missed run: dispatch {dispatch.name} "
        f"(#{dispatch.pk})"
    )
    with time_machine.travel(T0 + dt.timedelta(hours=2, minutes=1), tick=False):
        assert alert_pass() == []  # now missed, still the same alert
    with time_machine.travel(T0 + dt.timedelta(hours=2, minutes=2), tick=False):
        make_run(dispatch)
        [notice] = alert_pass()
    assert notice.state == "recovered" and notice.rule == "late_run"
    assert len(mail.outbox) == 2


def test_a_paused_dispatch_is_never_late(dispatch, operator):
    from dispatch import services

    services.disable(dispatch, operator, "holiday")
    with time_machine.travel(T0 + dt.timedelta(days=3), tick=False):
        assert alert_pass() == []
