"""Dispatch runs on the real one-node Slurm (ops/slurm_up.sh): submitted the
way cron's line does it, run on the node, cancelled, killed for their time
limit, not submitted while the controller is down."""

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pyodbc
import pytest
from django.core.management import CommandError, call_command

from conftest import require_datasource
from dispatch import cluster
from dispatch.models import DispatchRun, RunStatus, Trigger
from dispatch.tests.conftest import sink_count
from mlframework.events.models import Event
from mlframework.lib import odbc

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(databases=["default", "events"], transaction=True)

# A million rows streamed lazily by SQLite from the 344 penguins: long enough
# to cancel the run while it reads, predicts and writes.
_MANY = """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
WHERE i < 1000000) SELECT n.i AS id, p.island, p.bill_length_mm,
p.bill_depth_mm, p.flipper_length_mm, p.body_mass_g, p.sex, p.year
FROM n JOIN {table} p ON p.id = (n.i % 344) + 1"""


def _wait(condition, seconds: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"gave up waiting for {what} after {seconds} s")


def _cron_line(dispatch, env):
    """What cron runs for the dispatch: scripts/dispatch.py <id>."""
    return subprocess.run(
        [sys.executable, "scripts/dispatch.py", str(dispatch.pk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _run_of(dispatch) -> DispatchRun:
    return DispatchRun.objects.filter(dispatch=dispatch).order_by("-id").first()


def _long_run_reading(make_dispatch, tiny_classifier, source_table, tables):
    """A dispatch of the million rows submitted to Slurm, and its run once it
    is running on the node and has read rows."""
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query=_MANY.format(table=source_table("demo")),
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
        chunk_size=20_000,
        executor="slurm",
    )
    submission = cluster.run_scheduled(dispatch)
    assert submission.submitted, submission.error
    run = _wait(
        lambda: DispatchRun.objects.filter(
            pk=submission.run.pk, status=RunStatus.RUNNING, rows_read__gt=0
        ).first(),
        120,
        "the run to be reading on the node",
        every=0.2,
    )
    return dispatch, run


def _settled(run_id: int):
    """Reconcile (as the sweep does) until the run has a final Slurm state."""

    def check():
        cluster.reconcile()
        run = DispatchRun.objects.get(pk=run_id)
        return run if run.slurm_state in cluster.SETTLED else None

    return check


@pytest.fixture
def on_node(settings, process_env):
    """Jobs submitted from this process read the subprocess config (the test
    databases), as the cron line's process does."""
    settings.CONFIG_FILE = Path(process_env["MLFRAMEWORK_CONFIG"])
    return process_env


@pytest.mark.slow
def test_a_dispatch_through_sbatch_writes_its_rows(
    slurm_cluster, tiny_classifier, make_dispatch, source_table, tables, on_node
):
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {source_table('demo')}",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
        executor="slurm",
    )
    done = _cron_line(dispatch, on_node)
    assert done.returncode == 0, done.stderr
    run = _run_of(dispatch)
    assert f"run {run.pk}: submitted to Slurm as job {run.slurm_job_id}" in done.stdout
    assert run.executor == "slurm" and run.trigger == Trigger.CRON
    assert run.slurm_job_id.isdigit()

    run = _wait(
        lambda: DispatchRun.objects.filter(pk=run.pk, finished__isnull=False).first(),
        120,
        "the run on the node to finish",
    )
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.rows_written == 344
    assert sink_count("demo", dispatch.sink_table) == 344
    assert run.slurm_node == "localhost"
    assert run.slurm_partition == "debug"
    run = _wait(_settled(run.pk), 120, "Slurm's final word")
    assert run.slurm_state == "COMPLETED"
    assert run.status == RunStatus.SUCCEEDED  # the run's own end stands
    kinds = set(
        Event.objects.using("events")
        .filter(dispatch_run_id=run.pk)
        .values_list("kind", flat=True)
    )
    assert {"submitted", "started", "finished"} <= kinds


@pytest.mark.slow
def test_scancel_mid_run_leaves_no_rows_and_the_run_is_cancelled(
    slurm_cluster,
    tiny_classifier,
    make_dispatch,
    source_table,
    tables,
    on_node,
    operator,
):
    dispatch, run = _long_run_reading(
        make_dispatch, tiny_classifier, source_table, tables
    )
    run = cluster.cancel(run, operator)
    assert run.status == RunStatus.CANCELLED
    assert run.error == "Cancelled by otto."
    assert run.rows_written == 0
    _wait(
        lambda: slurm_cluster.status([run.slurm_job_id])[run.slurm_job_id].final,
        60,
        "the job to end",
    )
    cluster.reconcile()
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.slurm_state == "CANCELLED"
    assert sink_count("demo", dispatch.sink_table) == 0
    assert not DispatchRun.objects.filter(dispatch=dispatch).exclude(pk=run.pk)
    dispatch.refresh_from_db()
    assert dispatch.claimed_run_id is None
    with pytest.raises(cluster.CancelRefused, match="has already ended"):
        cluster.cancel(run, operator)


@pytest.mark.slow
def test_a_job_past_its_time_limit_is_a_timeout_within_two_minutes(
    slurm_cluster, tiny_classifier, make_dispatch, source_table, tables, on_node
):
    require_datasource("mariadb")
    source = source_table("mariadb")
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_datasource="mariadb",
        source_query=f"SELECT * FROM {source}",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
        executor="slurm",
        slurm_time_limit=1,
    )
    # The source table is locked: the run's query waits, idle, well past the
    # job's one-minute limit.
    with pyodbc.connect(odbc.connection_string("mariadb"), autocommit=True) as lock:
        lock.execute(f"LOCK TABLES {source} WRITE")
        submission = cluster.run_scheduled(dispatch)
        assert submission.submitted, submission.error
        run = submission.run
        _wait(
            lambda: DispatchRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING),
            60,
            "the run to start",
        )
        started = time.monotonic()
        job = _wait(
            lambda: (
                (s := slurm_cluster.status([run.slurm_job_id])[run.slurm_job_id]).final
                and s
            ),
            180,
            "Slurm to end the job",
            every=2,
        )
        lock.execute("UNLOCK TABLES")
    assert job.state == "TIMEOUT"
    ended = time.monotonic()
    run = _wait(_settled(run.pk), 120, "the run to become a timeout", every=5)
    assert time.monotonic() - ended < 120
    # It ran to its limit (counted from the job's start, before Django's).
    assert time.monotonic() - started > 40
    assert run.status == RunStatus.FAILED
    assert run.slurm_state == "TIMEOUT"
    assert run.error == (
        "The Slurm job hit its time limit (timeout); nothing it wrote was committed."
    )
    assert sink_count("demo", dispatch.sink_table) == 0


def _scontrol(*args: str) -> None:
    subprocess.run(["scontrol", *args], check=True, capture_output=True, timeout=30)


@pytest.mark.slow
def test_a_node_failure_mid_run_leaves_no_rows_and_says_so(
    slurm_cluster,
    tiny_classifier,
    make_dispatch,
    source_table,
    tables,
    on_node,
    node_restored,
):
    dispatch, run = _long_run_reading(
        make_dispatch, tiny_classifier, source_table, tables
    )
    _scontrol("update", f"NodeName={node_restored}", "State=DOWN", "Reason=test")
    run = _wait(_settled(run.pk), 120, "the run to settle", every=2)
    assert run.slurm_state == "NODE_FAIL"
    assert run.status == RunStatus.FAILED
    assert run.error == (
        "The node running the Slurm job failed; nothing it wrote was committed."
    )
    assert sink_count("demo", dispatch.sink_table) == 0
    # Not rerun by Slurm behind the run's back (sbatch --no-requeue).
    assert slurm_cluster.status([run.slurm_job_id])[run.slurm_job_id].final
    dispatch.refresh_from_db()
    assert dispatch.claimed_run_id is None


@pytest.mark.slow
def test_a_run_over_its_memory_is_out_of_memory(
    slurm_cluster, tiny_classifier, make_dispatch, source_table, tables, on_node
):
    # Too little for Python with pandas and the model: killed as it starts.
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {source_table('demo')}",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
        executor="slurm",
        slurm_memory="60M",
    )
    submission = cluster.run_scheduled(dispatch)
    assert submission.submitted, submission.error
    run = _wait(_settled(submission.run.pk), 180, "the run to settle", every=2)
    assert run.slurm_state == "OUT_OF_MEMORY"
    assert run.status == RunStatus.FAILED
    assert run.error == (
        "The Slurm job ran out of memory; nothing it wrote was committed."
    )
    assert sink_count("demo", dispatch.sink_table) == 0


@pytest.fixture
def controller_down(monkeypatch, tmp_path):
    """This process's Slurm clients talk to a port nothing listens on: the
    controller is down as far as they can tell (the cluster itself stays up
    for the other tests)."""
    conf = Path(os.environ["SLURM_CONF"]).read_text()
    down = tmp_path / "slurm.conf"
    down.write_text(conf.replace("SlurmctldPort=16817", "SlurmctldPort=16899"))
    monkeypatch.setenv("SLURM_CONF", str(down))
    return monkeypatch


@pytest.mark.slow
def test_with_the_controller_down_the_run_is_not_submitted_and_retried(
    slurm_cluster,
    tiny_classifier,
    make_dispatch,
    source_table,
    tables,
    on_node,
    controller_down,
):
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {source_table('demo')}",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
        executor="slurm",
        retries=2,
        retry_backoff_seconds=0,
    )
    first = DispatchRun.objects.create(dispatch=dispatch, executor="slurm")
    waits = []

    def controller_back(seconds):
        # The controller comes back before the second attempt.
        waits.append(seconds)
        controller_down.setenv("SLURM_CONF", on_node["SLURM_CONF"])

    submission = cluster.submit_with_retries(first, sleep=controller_back)
    first.refresh_from_db()
    assert first.status == RunStatus.FAILED
    assert first.slurm_state == cluster.NOT_SUBMITTED
    assert first.error == (
        "Not submitted to Slurm: sbatch failed: Batch job submission failed: "
        "Unable to contact slurm controller (connect failure)"
    )
    assert waits == [0]
    assert submission.submitted
    retry = submission.run
    assert (retry.trigger, retry.attempt) == (Trigger.RETRY, 2)
    retry = _wait(
        lambda: DispatchRun.objects.filter(pk=retry.pk, finished__isnull=False).first(),
        120,
        "the retry to run",
    )
    assert retry.status == RunStatus.SUCCEEDED, retry.error
    assert sink_count("demo", dispatch.sink_table) == 344  # nothing lost
    # Not-submitted runs are settled: the reconciler leaves them alone.
    cluster.reconcile()
    first.refresh_from_db()
    assert first.status == RunStatus.FAILED


@pytest.mark.slow
def test_the_cron_command_fails_loudly_when_it_cannot_submit(
    slurm_cluster, make_dispatch, controller_down, capsys
):
    dispatch = make_dispatch(executor="slurm")
    with pytest.raises(CommandError) as caught:
        call_command("dispatch", "run", str(dispatch.pk))
    run = _run_of(dispatch)
    assert str(caught.value) == (
        f"dispatch {dispatch.name} run {run.pk}: Not submitted to Slurm: sbatch "
        "failed: Batch job submission failed: Unable to contact slurm controller "
        "(connect failure)"
    )
    assert run.status == RunStatus.FAILED
    assert run.slurm_state == cluster.NOT_SUBMITTED
    assert Event.objects.using("events").filter(
        dispatch_run_id=run.pk, kind="not_submitted", level="error"
    )


def test_a_job_no_source_knows_past_min_job_age_is_lost(slurm_cluster, make_dispatch):
    dispatch = make_dispatch(executor="slurm")
    age = slurm_cluster.cluster_config().min_job_age
    old = DispatchRun.objects.create(
        dispatch=dispatch,
        executor="slurm",
        status=RunStatus.RUNNING,
        slurm_job_id="987654",  # never submitted to this cluster
        slurm_state="RUNNING",
    )
    DispatchRun.objects.filter(pk=old.pk).update(
        created=old.created - dt.timedelta(seconds=age + 61)
    )
    young = DispatchRun.objects.create(
        dispatch=dispatch,
        executor="slurm",
        slurm_job_id="987655",
        slurm_state="PENDING",
    )
    assert cluster.reconcile() == [old.pk]
    old.refresh_from_db()
    young.refresh_from_db()
    assert old.status == RunStatus.FAILED
    assert old.slurm_state == cluster.LOST
    assert old.error == (
        "Slurm has no record of the job any more (lost); nothing it wrote was "
        "committed."
    )
    assert young.status == RunStatus.QUEUED  # just submitted: not lost yet


def _lost_run(dispatch, slurm_cluster, job_id: str) -> DispatchRun:
    age = slurm_cluster.cluster_config().min_job_age
    run = DispatchRun.objects.create(
        dispatch=dispatch,
        executor="slurm",
        status=RunStatus.RUNNING,
        slurm_job_id=job_id,
        slurm_state="RUNNING",
    )
    DispatchRun.objects.filter(pk=run.pk).update(
        created=run.created - dt.timedelta(seconds=age + 61)
    )
    return run


def test_every_sweep_of_the_workers_reconciles(slurm_cluster, make_dispatch):
    """The task workers' sweep and the monitor's cron round (check_and_alert)
    both run processes.sweep, whose signal runs the reconciler."""
    from mlframework.processes import services as processes

    run = _lost_run(make_dispatch(executor="slurm"), slurm_cluster, "987656")
    processes.sweep()
    run.refresh_from_db()
    assert (run.status, run.slurm_state) == (RunStatus.FAILED, cluster.LOST)


def test_the_reconcile_command_says_how_many(slurm_cluster, make_dispatch, capsys):
    _lost_run(make_dispatch(executor="slurm"), slurm_cluster, "987657")
    call_command("dispatch", "reconcile")
    assert capsys.readouterr().out == "1 Slurm run(s) given a final state\n"
