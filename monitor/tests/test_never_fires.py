"""A stored schedule that never fires (0 0 31 2 *, saved before the form
refused it): every page, /healthz and `manage.py monitor` say "never fires",
none answers 500, and the other dispatches are still watched and alerted on."""

import datetime as dt
import json
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from dispatch import crontab
from dispatch.models import Dispatch, ScheduleStatus
from mlframework.config import AlertsConfig
from monitor import alerts, schedules

pytestmark = pytest.mark.django_db(databases=["default", "events"])

# A Monday, 08:06 UTC; the hourly dispatch runs at :05 with 10 minutes' grace.
T0 = dt.datetime(2026, 3, 2, 8, 6, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 3, 2, 9, 20, tzinfo=dt.UTC)  # the 09:05 run is late
REASON = "0 0 31 2 * never fires: February has no 31st"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def config(use_config):
    use_config(hosts=[], alerts=AlertsConfig(email_to=["ops@example.com"]))


@pytest.fixture
def world(make_dispatch):
    """One dispatch that never fires, one hourly one that is late at LATER."""
    with time_machine.travel(T0, tick=False):
        never = make_dispatch(name="feb-31st", enabled=True)
        late = make_dispatch(name="hourly", enabled=True, cron="5 * * * *")
    # Written around the form, as a row saved before the check would be.
    Dispatch.objects.filter(pk=never.pk).update(cron="0 0 31 2 *")
    crontab.sync()
    never.refresh_from_db()
    return never, late


def row(pk, now=LATER):
    [found] = [s for s in schedules.collect(now) if s.dispatch.pk == pk]
    return found


def test_it_is_flagged_as_never_firing_and_the_other_is_still_late(world):
    never, late = world
    schedule = row(never.pk)
    assert schedule.timing == ScheduleStatus.NEVER_FIRES and schedule.flagged
    assert schedule.problems == [REASON]  # no crontab complaint on top
    assert schedule.next_run is None and schedule.crontab_state == "never_fires"
    assert row(late.pk).timing == ScheduleStatus.LATE


def test_alerts_go_on_for_the_other_dispatches(world):
    never, late = world
    notices = alerts.evaluate(schedules.findings(schedules.collect(LATER)), LATER)
    fired = {n.dispatch_id: n for n in notices if n.state == "fired"}
    assert set(fired) == {never.pk, late.pk}
    assert fired[never.pk].rule == "late_run" and fired[never.pk].detail == REASON
    assert fired[late.pk].detail.startswith("late: due at 2026-03-02 09:05 UTC")


def test_the_monitor_page_and_its_schedules_part_say_never_fires(viewer_client, world):
    with time_machine.travel(LATER):
        page = viewer_client.get(reverse("monitor:index"))
        part = viewer_client.get(reverse("monitor:schedules"), **HTMX)
    for response in (page, part):
        assert response.status_code == 200
        html = response.content.decode()
        assert html.count("data-never-fires") == 1
        assert "2 dispatches flagged" in html
        assert f"feb-31st ({REASON})" in html
        assert 'data-timing="late"' in html  # the other one, still watched


def test_the_dispatch_admin_lists_it(admin_client_, world):
    response = admin_client_.get(reverse("admin:dispatch_dispatch_changelist"))
    assert response.status_code == 200 and "feb-31st" in response.content.decode()


def test_healthz_counts_it_and_names_it_only_to_logged_in_users(viewer_client, world):
    anonymous = Client().get(reverse("healthz"))
    assert anonymous.status_code == 200  # a load balancer keeps the web up
    assert anonymous.json()["schedules"] == {"never_fires": 1}
    body = viewer_client.get(reverse("healthz")).json()
    assert body["schedules"]["dispatches"] == [
        {"name": "feb-31st", "status": "never fires", "enabled": True, "error": REASON}
    ]


def run_monitor(*args):
    out = StringIO()
    with time_machine.travel(LATER), pytest.raises(CommandError) as caught:
        call_command("monitor", *args, stdout=out)
    return out.getvalue(), str(caught.value)


def test_manage_py_monitor_says_never_fires_and_still_alerts_the_late_one(world):
    output, failure = run_monitor()
    [line] = [
        line
        for line in output.splitlines()
        if line.startswith("FAIL dispatch") and " feb-31st " in line
    ]
    assert " never fires " in line
    assert line.endswith(REASON)
    assert f"dispatch feb-31st: {REASON}" in failure
    assert "dispatch hourly: late: due at 2026-03-02 09:05 UTC" in failure
    assert "ALERT Late or missed run: dispatch hourly" in output
    assert "ALERT Late or missed run: dispatch feb-31st" in output
    subjects = [message.subject for message in mail.outbox]
    assert any("dispatch hourly" in subject for subject in subjects)


def test_manage_py_monitor_json_names_it(world):
    output, _ = run_monitor("--no-alerts", "--json")
    [entry] = json.loads(output)["schedules"]["dispatches"]
    assert entry["name"] == "feb-31st" and entry["error"] == REASON
