"""Management commands: crontab sync/show, dispatch run/sweep, demo_dispatch;
transient source failures retried as the dispatch says."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from dispatch import crontab, demo, runner
from dispatch.models import Dispatch, DispatchRun, RunStatus, Trigger
from dispatch.tests.conftest import sink_count
from mlframework.core import demo as core_demo
from mlframework.lib import odbc

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def _call(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_crontab_sync_and_show(make_dispatch):
    dispatch = make_dispatch(enabled=True)
    out, _ = _call("crontab", "sync")
    assert "1 added, 0 removed, 0 fixed" in out
    out, err = _call("crontab", "show")
    assert out.strip() == crontab.line_for(dispatch) and "1 managed line" in err


def test_crontab_sync_reports_a_dispatch_it_cannot_install(make_dispatch):
    make_dispatch(enabled=True, cron="0 6 * * *", timezone="Asia/Kolkata")
    with pytest.raises(CommandError, match="could not be installed"):
        _call("crontab", "sync")


def test_dispatch_run_fails_with_a_non_zero_exit_and_the_reason(
    make_dispatch, registered_model
):
    dispatch = make_dispatch(model=registered_model)
    with pytest.raises(CommandError, match="has no alias 'production'"):
        _call("dispatch", "run", str(dispatch.pk))
    with pytest.raises(CommandError, match="There is no dispatch 999"):
        _call("dispatch", "run", "999")


def test_dispatch_run_and_sweep_succeed(tiny_classifier, make_dispatch, tables):
    core_demo.load()
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query="SELECT * FROM penguins",
        sink_table=tables("demo", "sink"),
    )
    out, _ = _call("dispatch", "run", str(dispatch.pk))
    assert "succeeded, 344 read, 344 written" in out
    out, _ = _call("dispatch", "sweep")
    assert "0 dead run(s)" in out


def test_dispatch_run_sweeps_other_dispatches_dead_runs_after_the_run(
    tiny_classifier, make_dispatch, tables, monkeypatch
):
    core_demo.load()
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query="SELECT * FROM penguins",
        sink_table=tables("demo", "sink"),
    )
    other = make_dispatch()
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    dead = other.runs.create(
        status=RunStatus.RUNNING, host="elsewhere", started=old, heartbeat=old
    )
    Dispatch.objects.filter(pk=other.pk).update(claimed_run_id=dead.pk)
    order = []
    commit, sweep = odbc.TransactionWriter.commit, runner.sweep
    monkeypatch.setattr(
        odbc.TransactionWriter,
        "commit",
        lambda self: order.append("commit") or commit(self),
    )
    monkeypatch.setattr(
        runner, "sweep", lambda now=None: order.append("sweep") or sweep(now)
    )
    out, _ = _call("dispatch", "run", str(dispatch.pk))
    assert "succeeded" in out
    assert order == ["commit", "sweep"]  # once the run is over, not during it
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and "no heartbeat" in dead.error


def test_a_failing_sweep_after_a_run_changes_nothing_about_it(
    tiny_classifier, make_dispatch, tables, monkeypatch, caplog
):
    core_demo.load()
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query="SELECT * FROM penguins",
        sink_table=tables("demo", "sink"),
    )

    def broken(now=None):
        raise RuntimeError("the platform database went away")

    monkeypatch.setattr(runner, "sweep", broken)
    out, _ = _call("dispatch", "run", str(dispatch.pk))
    assert "succeeded, 344 read, 344 written" in out
    assert "sweeping dead dispatch runs failed" in caplog.text


@pytest.mark.slow
def test_a_source_that_is_down_is_retried_then_fails(
    tiny_classifier, make_dispatch, source_table, tables, mariadb
):
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_datasource="mariadb",
        source_query=f"SELECT * FROM {source_table('mariadb')}",
        sink_table=tables("demo", "sink"),
        retries=1,
        retry_backoff_seconds=0,
    )
    mariadb.stop()
    try:
        run = runner.run_scheduled(dispatch.pk)
    finally:
        mariadb.start()
    assert run.status == RunStatus.FAILED
    assert run.trigger == Trigger.RETRY and run.attempt == 2
    assert "Reading the source (mariadb) failed" in run.error
    first = DispatchRun.objects.get(dispatch=dispatch, attempt=1)
    assert first.status == RunStatus.FAILED and first.trigger == Trigger.CRON
    assert sink_count("demo", dispatch.sink_table) == 0


def test_a_schema_error_is_not_retried(make_dispatch, tiny_classifier, source_table):
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query=f"SELECT id FROM {source_table('demo')}",
        retries=3,
        retry_backoff_seconds=0,
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.FAILED and run.attempt == 1
    assert DispatchRun.objects.filter(dispatch=dispatch).count() == 1


def test_the_demo_dispatch_is_created_once_and_fails_cleanly_without_a_model():
    core_demo.load()
    try:
        out, _ = _call("demo_dispatch")
        assert "penguins-demo created" in out and "in the crontab" in out
        out, _ = _call("demo_dispatch")
        assert "penguins-demo exists" in out
        dispatch = Dispatch.objects.get(name=demo.NAME)
        assert dispatch.cron == "*/5 * * * *" and dispatch.model.name == "penguins"
        assert crontab.entry_state(dispatch) == "ok"
        assert odbc.table_exists("demo", demo.SOURCE_TABLE)
        assert odbc.table_exists("demo", demo.SINK_TABLE)
        # The demo model is still training: the run fails with a clear reason.
        run = runner.run_scheduled(dispatch.pk)
        assert run.status == RunStatus.FAILED
        assert "Model penguins has no alias 'production'" in run.error
    finally:
        for table in (demo.SOURCE_TABLE, demo.SINK_TABLE):
            odbc.execute("demo", f"DROP TABLE IF EXISTS {table}")


def test_the_demo_dispatch_scores_once_the_model_exists(tiny_classifier):
    core_demo.load()
    try:
        _call("demo_dispatch")
        dispatch = Dispatch.objects.get(name=demo.NAME)
        assert dispatch.model == tiny_classifier.model
        run = runner.run_scheduled(dispatch.pk)
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert sink_count("demo", demo.SINK_TABLE) == 344
        runner.run_scheduled(dispatch.pk)  # same day: replaces, never doubles
        assert sink_count("demo", demo.SINK_TABLE) == 344
    finally:
        for table in (demo.SOURCE_TABLE, demo.SINK_TABLE):
            odbc.execute("demo", f"DROP TABLE IF EXISTS {table}")
