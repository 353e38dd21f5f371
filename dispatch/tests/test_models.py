"""State the Dispatch owns: when it was enabled, and its schedule's status."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from dispatch import services
from dispatch.models import Dispatch, DispatchRun, ScheduleStatus
from mlframework.events.log import log_event

pytestmark = pytest.mark.django_db(databases=["default", "events"])

# A Monday, 08:05 UTC; hourly at :05 with 10 minutes of grace.
T0 = dt.datetime(2026, 3, 2, 8, 5, tzinfo=dt.UTC)


def at(hours=0, minutes=0):
    return T0 + dt.timedelta(hours=hours, minutes=minutes)


def test_a_dispatch_saved_enabled_is_enabled_from_then(make_dispatch):
    with time_machine.travel(at(minutes=1), tick=False):
        dispatch = make_dispatch(enabled=True)
    assert dispatch.enabled_at == at(minutes=1)
    assert make_dispatch(enabled=False).enabled_at is None


def test_the_form_path_sets_enabled_at_only_when_it_becomes_enabled(
    make_dispatch, operator
):
    with time_machine.travel(at(), tick=False):
        dispatch = services.save(make_dispatch(save=False, enabled=False), operator)
    assert dispatch.enabled_at is None
    with time_machine.travel(at(hours=1), tick=False):
        dispatch.enabled = True
        services.save(dispatch, operator)
    assert dispatch.enabled_at == at(hours=1)
    with time_machine.travel(at(hours=2), tick=False):
        dispatch.description = "an edit while enabled"
        services.save(dispatch, operator)
    assert Dispatch.objects.get(pk=dispatch.pk).enabled_at == at(hours=1)


def test_enable_and_resume_all_set_enabled_at(make_dispatch, operator):
    one, two = make_dispatch(), make_dispatch()
    with time_machine.travel(at(hours=1), tick=False):
        services.enable(one, operator)
    assert one.enabled_at == at(hours=1)
    with time_machine.travel(at(hours=2), tick=False):
        services.disable(one, operator)
        services.disable(two, operator)
    with time_machine.travel(at(hours=3), tick=False):
        services.resume_all(operator)
    assert {d.enabled_at for d in Dispatch.objects.filter(pk__in=[one.pk, two.pk])} == {
        at(hours=3)
    }


@pytest.fixture
def hourly(make_dispatch):
    with time_machine.travel(at(minutes=1), tick=False):
        return make_dispatch(enabled=True, cron="5 * * * *")


@pytest.mark.parametrize(
    ("now", "status", "due"),
    [
        (at(minutes=30), ScheduleStatus.WAITING, None),
        (at(hours=1, minutes=5), ScheduleStatus.DUE, at(hours=1)),
        (at(hours=1, minutes=11), ScheduleStatus.LATE, at(hours=1)),
        (at(hours=2, minutes=3), ScheduleStatus.MISSED, at(hours=1)),
    ],
)
def test_schedule_status_from_the_models_own_fields(hourly, now, status, due):
    assert hourly.schedule_status(now) == status
    assert hourly.schedule_timing(now) == (status, due)


def test_a_run_since_the_slot_is_on_time(hourly):
    DispatchRun.objects.create(dispatch=hourly, scheduled_for=at(hours=1))
    assert hourly.schedule_status(at(hours=1, minutes=30)) == ScheduleStatus.ON_TIME


def test_paused_and_never_firing_schedules(hourly, make_dispatch):
    hourly.enabled = False
    assert hourly.schedule_status(at(hours=5)) == ScheduleStatus.PAUSED
    never = make_dispatch(enabled=True)
    Dispatch.objects.filter(pk=never.pk).update(cron="0 0 31 2 *")
    never.refresh_from_db()
    assert never.schedule_status(at()) == ScheduleStatus.NEVER_FIRES


def test_time_before_enabled_at_is_not_watched(hourly):
    # Enabled again at 13:50 (as an update() would): the 13:05 slot is not missed.
    Dispatch.objects.filter(pk=hourly.pk).update(enabled_at=at(hours=5, minutes=50))
    hourly.refresh_from_db()
    assert hourly.watched_since() == at(hours=5, minutes=50)
    assert hourly.schedule_status(at(hours=5, minutes=55)) == ScheduleStatus.WAITING
    assert hourly.schedule_status(at(hours=6, minutes=11)) == ScheduleStatus.LATE


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"], transaction=True)
def test_the_migration_fills_enabled_at_from_the_last_enable_event(registered_model):
    before, after = (
        [("dispatch", "0003_page_by")],
        [("dispatch", "0004_dispatch_enabled_at")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("dispatch", "Dispatch")
    common = {
        "model_id": registered_model.pk,
        "source_datasource": "demo",
        "source_query": "SELECT 1",
        "sink_datasource": "demo",
        "sink_table": "t",
        "cron": "*/5 * * * *",
    }
    with time_machine.travel(at(), tick=False):
        seen = old.objects.create(name="seen", enabled=True, **common)
        old.objects.create(name="unseen", enabled=True, **common)
        paused = old.objects.create(name="paused", enabled=False, **common)
    with time_machine.travel(at(hours=2), tick=False):
        log_event("dispatch", "enabled", "enabled seen", data={"dispatch": seen.pk})
    with time_machine.travel(at(hours=3), tick=False):
        log_event("dispatch", "resumed_all", "x", data={"dispatches": [paused.pk]})
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    filled = dict(Dispatch.objects.values_list("name", "enabled_at"))
    # Back to every app's latest: going back to 0003 also unapplied the
    # migrations of apps that depend on dispatch (monitor's), which the
    # tests after this one need.
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert filled == {"seen": at(hours=2), "unseen": at(), "paused": None}
