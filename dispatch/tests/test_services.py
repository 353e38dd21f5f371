"""Dispatch services: every change reaches the crontab and the event log."""

import pytest

from dispatch import crontab, services
from dispatch.models import Dispatch, DispatchRun, RunStatus, Trigger
from mlframework.events.models import Event

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def _events(kind):
    return Event.objects.using("events").filter(source="dispatch", kind=kind)


def test_saving_an_enabled_dispatch_installs_its_line(make_dispatch, operator):
    dispatch = make_dispatch(save=False, enabled=True)
    services.save(dispatch, operator, created=True)
    assert dispatch.created_by == operator
    assert crontab.entry_state(dispatch) == "ok"
    assert _events("created").filter(user_id=operator.pk).exists()


def test_saving_a_disabled_dispatch_removes_its_line(make_dispatch, operator):
    dispatch = services.save(make_dispatch(save=False, enabled=True), operator)
    dispatch.enabled = False
    services.save(dispatch, operator)
    assert dispatch.pk not in crontab.managed_entries()


def test_a_schedule_cron_cannot_take_is_not_saved(make_dispatch, operator):
    dispatch = make_dispatch(save=False, enabled=True, timezone="Asia/Kolkata")
    dispatch.cron = "0 6 * * *"
    with pytest.raises(crontab.CrontabError):
        services.save(dispatch, operator, created=True)
    assert not Dispatch.objects.filter(name=dispatch.name).exists()


def test_disable_records_who_and_why_and_removes_the_line(make_dispatch, operator):
    dispatch = services.save(make_dispatch(save=False, enabled=True), operator)
    services.disable(dispatch, operator, "source database migration")
    dispatch.refresh_from_db()
    assert not dispatch.enabled and dispatch.paused_by == operator
    assert dispatch.pause_reason == "source database migration"
    assert dispatch.paused_at is not None and dispatch.next_run() is None
    assert dispatch.pk not in crontab.managed_entries()
    event = _events("disabled").get()
    assert "source database migration" in event.message
    assert event.username == operator.username


def test_enable_writes_the_line_and_clears_the_pause(make_dispatch, operator):
    dispatch = make_dispatch(enabled=False)
    services.disable(dispatch, operator, "x")
    services.enable(dispatch, operator, "back")
    dispatch.refresh_from_db()
    assert dispatch.enabled and dispatch.paused_by is None and not dispatch.pause_reason
    assert crontab.entry_state(dispatch) == "ok"
    assert _events("enabled").filter(message__contains="back").exists()


def test_pause_all_and_resume_all(make_dispatch, operator):
    first = services.save(make_dispatch(save=False, enabled=True), operator)
    second = services.save(make_dispatch(save=False, enabled=True), operator)
    never = make_dispatch(enabled=False)  # never enabled: resume leaves it alone
    assert services.pause_all(operator, "maintenance") == 2
    assert crontab.managed_entries() == {}
    assert services.resume_all(operator) == 2
    assert set(crontab.managed_entries()) == {first.pk, second.pk}
    never.refresh_from_db()
    assert not never.enabled
    assert _events("paused_all").exists() and _events("resumed_all").exists()


def test_delete_removes_row_and_line(make_dispatch, operator):
    dispatch = services.save(make_dispatch(save=False, enabled=True), operator)
    pk = dispatch.pk
    services.delete(dispatch, operator)
    assert not Dispatch.objects.filter(pk=pk).exists()
    assert pk not in crontab.managed_entries()
    assert _events("deleted").exists()


def test_run_now_queues_a_manual_run_in_the_task_queue(
    make_dispatch, operator, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    dispatch = make_dispatch()
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_now(dispatch, operator)
    assert run.status == RunStatus.QUEUED and run.trigger == Trigger.MANUAL
    assert run.requested_by == operator
    task = DBTaskResult.objects.get()
    assert task.task_path == "dispatch.tasks.execute_run"
    assert task.args_kwargs["args"] == [run.pk]
    assert _events("queued").filter(dispatch_run_id=run.pk).exists()
    assert DispatchRun.objects.count() == 1


def test_schedule_helpers(make_dispatch):
    import datetime as dt

    dispatch = make_dispatch(cron="0 6 * * *", timezone="America/Sao_Paulo")
    now = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)  # 09:00 in Sao Paulo
    runs = dispatch.next_runs(3, after=now)
    assert [r.isoformat() for r in runs] == [
        "2026-03-11T06:00:00-03:00",
        "2026-03-12T06:00:00-03:00",
        "2026-03-13T06:00:00-03:00",
    ]
    assert dispatch.previous_due(now).isoformat() == "2026-03-10T06:00:00-03:00"
    exactly = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
    assert dispatch.previous_due(exactly).isoformat() == "2026-03-10T06:00:00-03:00"
    assert "06:00" in dispatch.describe_schedule()
    assert dispatch.run_key_for(now) == "2026-03-10"
