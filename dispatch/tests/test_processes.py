"""Runs in real separate processes: the cron entrypoint, SIGKILL mid-run,
overlapping invocations, and the real cron daemon firing a dispatch."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyodbc
import pytest

from conftest import require_service
from dispatch import crontab, runner
from dispatch.models import DispatchRun, RunStatus
from dispatch.tests.conftest import sink_count
from mlframework.events.models import Event
from mlframework.lib import odbc

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
    pytest.mark.slow,
]

# A million rows streamed lazily by SQLite from the 344 penguins: long enough
# to kill the run while it writes.
_MANY = """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
WHERE i < 1000000) SELECT n.i AS id, p.island, p.bill_length_mm,
p.bill_depth_mm, p.flipper_length_mm, p.body_mass_g, p.sex, p.year
FROM n JOIN {table} p ON p.id = (n.i % 344) + 1"""


def _wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what} after {seconds} s")


def _uncommitted_rows(table: str) -> int:
    with pyodbc.connect(odbc.connection_string("mariadb"), autocommit=True) as db:
        db.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
        try:
            return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        except pyodbc.Error:
            return 0


@pytest.mark.parametrize("sink", ["demo", "mariadb"])
def test_sigkill_mid_run_leaves_no_rows_and_overlap_is_skipped(
    sink, tiny_classifier, make_dispatch, source_table, tables, process_env
):
    if sink == "mariadb":
        require_service(odbc.probe("mariadb").ok, "the MariaDB datasource")
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query=_MANY.format(table=source_table("demo")),
        sink_datasource=sink,
        sink_table=tables(sink, "sink"),
        key_columns=["id"],
        chunk_size=20_000,
    )
    job = subprocess.Popen(
        [sys.executable, "scripts/dispatch.py", str(dispatch.pk)],
        cwd=ROOT,
        env=process_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        run = _wait(
            lambda: DispatchRun.objects.filter(
                dispatch=dispatch, status=RunStatus.RUNNING
            ).first(),
            60,
            "the run to start",
        )
        # A second invocation while the first runs: recorded as skipped.
        overlap = runner.run_scheduled(dispatch.pk)
        assert overlap.status == RunStatus.SKIPPED
        assert overlap.error == f"skipped: already running (run {run.pk})"
        _wait(
            lambda: odbc.table_exists(sink, dispatch.sink_table),
            90,
            "the writer to start",
        )
        if sink == "mariadb":
            _wait(
                lambda: _uncommitted_rows(dispatch.sink_table) > 0,
                60,
                "rows in the open transaction",
            )
        else:
            time.sleep(2)
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING, "the run ended before the kill"
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=10)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert sink_count(sink, dispatch.sink_table) == 0
    assert runner.sweep() == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert (
        f"PID {run.pid}" in run.error and "Nothing it wrote was committed" in run.error
    )
    dispatch.refresh_from_db()
    assert dispatch.claimed_run_id is None


def test_the_entrypoint_exits_non_zero_with_the_reason(
    make_dispatch, registered_model, process_env
):
    dispatch = make_dispatch(model=registered_model)
    done = subprocess.run(
        [sys.executable, "scripts/dispatch.py", str(dispatch.pk)],
        cwd=ROOT,
        env=process_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "has no alias 'production'" in done.stderr
    run = DispatchRun.objects.get(dispatch=dispatch)
    assert run.status == RunStatus.FAILED and run.trigger == "cron"


def _cron_running() -> bool:
    if shutil.which("pgrep") is None:
        return False
    found = subprocess.run(["pgrep", "-x", "cron"], capture_output=True, text=True)
    for pid in found.stdout.split():
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        if state != "Z":
            return True
    return False


def test_the_real_cron_daemon_runs_an_installed_dispatch(
    tiny_classifier,
    make_dispatch,
    source_table,
    tables,
    process_env,
    settings,
    tmp_path,
):
    require_service(_cron_running(), "the cron daemon")
    # Cron starts jobs with an empty environment: the job's config file has
    # the values resolved (it is private to this test, mode 0600); the line
    # itself carries only its path.
    raw = Path(process_env["MLFRAMEWORK_CONFIG"]).read_text()
    resolved = re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}",
        lambda m: os.environ.get(m.group(1), m.group(2) or ""),
        raw,
    )
    config = tmp_path / "cron.yaml"
    config.touch(mode=0o600)
    config.write_text(resolved)
    settings.CONFIG_FILE = config
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {source_table('demo')}",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
        cron="* * * * *",
        enabled=True,
    )
    try:
        crontab.install(dispatch)
        line = crontab.managed_entries()[dispatch.pk]
        assert f"MLFRAMEWORK_CONFIG={config} " in line
        assert line.startswith("* * * * * cd /")
        assert os.environ["MLF_TEST_MARIADB_PASSWORD"] not in line
        _wait(
            lambda: DispatchRun.objects.filter(dispatch=dispatch).exists(),
            90,
            "cron to start the dispatch",
        )
        run = _wait(
            lambda: DispatchRun.objects.filter(
                dispatch=dispatch, status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED]
            ).first(),
            60,
            "the run cron started to finish",
        )
    finally:
        crontab.remove(dispatch.pk)
    log = Path(settings.CONFIG.path(settings.CONFIG.cron.log_dir)) / (
        f"dispatch-{dispatch.pk}.log"
    )
    assert run.status == RunStatus.SUCCEEDED, log.read_text() if log.exists() else ""
    assert run.trigger == "cron" and run.rows_written == 344
    assert run.scheduled_for.second == 0
    assert os.getpid() != run.pid
    assert (
        Event.objects.using("events")
        .filter(dispatch_run_id=run.pk, kind="finished")
        .exists()
    )
    assert dispatch.pk not in crontab.managed_entries()


def test_run_now_is_executed_by_the_real_task_worker(
    tiny_classifier, make_dispatch, source_table, tables, process_env, operator
):
    from dispatch import services

    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {source_table('demo')}",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
    )
    run = services.run_now(dispatch, operator)  # transaction=True: enqueued now
    worker = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--batch",
            "--no-startup-delay",
            "--interval",
            "0.2",
        ],
        cwd=ROOT,
        env=process_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, worker.stderr[-3000:]
    assert run.trigger == "manual" and run.requested_by == operator
    assert run.pid != os.getpid() and run.rows_written == 344
    assert sink_count("demo", dispatch.sink_table) == 344
