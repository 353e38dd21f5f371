"""Background training through django-tasks and the real db_worker."""

import subprocess
import sys
import threading

import pytest
from django.conf import settings

from mlframework.events.models import Event
from registry import datasets, jobs
from registry.errors import DatasetError, RegistryError, TrainingRefused
from registry.models import ModelVersion, TrainingJob
from registry.training import TrainOptions

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def penguins_dataset(db):
    from mlframework.core import demo

    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    return dataset


def _options(**kwargs):
    return TrainOptions(
        **{"label": "species", "fast": True, "time_limit": 30, **kwargs}
    )


def _kinds(job):
    return list(
        Event.objects.using("events")
        .filter(source="registry", data__job=job.pk)
        .order_by("created")
        .values_list("kind", flat=True)
    )


def _worker(env, *extra):
    return subprocess.run(
        [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "db_worker",
            "--queue-name",
            "training",
            "--batch",
            "--no-startup-delay",
            "--interval",
            "0.2",
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_submit_queues_a_job_with_its_position(penguins_dataset, analyst):
    first = jobs.submit(penguins_dataset, "penguins", _options(), user=analyst)
    second = jobs.submit(penguins_dataset, "penguins", _options(seed=2), user=analyst)
    assert first.status == "queued" and first.task_id
    assert (first.queue_position(), second.queue_position()) == (1, 2)
    assert first.options["preset"] == settings.CONFIG.training.default_preset
    assert _kinds(first) == ["training.queued"]
    from django_tasks_db.models import DBTaskResult

    task = DBTaskResult.objects.get(id=first.task_id)
    assert task.queue_name == "training" and task.args_kwargs["args"] == [first.pk]


def test_submit_refuses_before_queueing(penguins_dataset):
    with pytest.raises(TrainingRefused, match="'colour' is not in the file"):
        jobs.submit(penguins_dataset, "penguins", _options(label="colour"))
    datasets.path_of(penguins_dataset).unlink()
    with pytest.raises(DatasetError, match="missing from the server"):
        jobs.submit(penguins_dataset, "penguins", _options())
    assert not TrainingJob.objects.exists()
    from django_tasks_db.models import DBTaskResult

    assert not DBTaskResult.objects.exists()


def test_run_trains_and_records_everything(penguins_dataset, analyst):
    job = jobs.submit(penguins_dataset, "penguins", _options(), user=analyst)
    assert jobs.run(job.pk) == "succeeded"
    job.refresh_from_db()
    assert job.status == "succeeded" and job.stage == "done"
    assert job.version.model.name == "penguins"
    assert job.version.dataset == penguins_dataset
    assert job.version.lineage.dataset.sha256 == penguins_dataset.sha256
    assert job.version.created_by == analyst
    assert job.models_trained == 1
    assert "LightGBM" in job.log
    assert job.started <= job.finished
    assert jobs.progress_percent(job) == 100
    assert _kinds(job) == ["training.queued", "training.started", "training.finished"]
    assert jobs.run(job.pk) == "skipped"  # a second delivery does nothing


def test_a_cancel_while_running_stops_at_the_next_stage(penguins_dataset):
    job = jobs.submit(penguins_dataset, "penguins", _options())
    # The request lands between the worker's claim and its first report.
    TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    assert jobs.run(job.pk) == "cancelled"
    job.refresh_from_db()
    assert job.status == "cancelled" and job.version is None
    assert not ModelVersion.objects.exists()
    assert _kinds(job)[-1] == "training.cancelled"


def test_cancel_a_queued_job(penguins_dataset, analyst):
    job = jobs.submit(penguins_dataset, "penguins", _options())
    jobs.cancel(job, user=analyst)
    assert job.status == "cancelled"
    assert jobs.run(job.pk) == "skipped"
    assert _kinds(job) == ["training.queued", "training.cancelled"]
    with pytest.raises(RegistryError, match="has already cancelled"):
        jobs.cancel(job)


def test_a_failing_job_says_why(penguins_dataset):
    job = jobs.submit(penguins_dataset, "penguins", _options())
    datasets.path_of(penguins_dataset).unlink()
    assert jobs.run(job.pk) == "failed"
    job.refresh_from_db()
    assert "missing from the server" in job.error
    event = Event.objects.using("events").get(kind="training.failed")
    assert event.level == "error" and "missing from the server" in event.message


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"], transaction=True)
def test_the_queue_survives_a_worker_restart(penguins_dataset, process_env):
    first = jobs.submit(penguins_dataset, "penguins", _options())
    second = jobs.submit(penguins_dataset, "penguins", _options(seed=1))
    # No worker yet: both wait. One worker run takes one job and stops.
    done = _worker(process_env, "--max-tasks", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "succeeded", first.error
    assert second.status == "queued" and second.queue_position() == 1
    # A new worker (after a restart) picks up what is left.
    done = _worker(process_env)
    assert done.returncode == 0, done.stderr[-2000:]
    second.refresh_from_db()
    assert second.status == "succeeded", second.error
    assert [v.number for v in ModelVersion.objects.order_by("number")] == [1, 2]
    assert second.version.lineage.seed == 1


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"], transaction=True)
def test_cancel_reaches_a_running_job(penguins_dataset):
    job = jobs.submit(
        penguins_dataset,
        "penguins",
        TrainOptions(label="species", time_limit=60),  # the full preset: slower
    )
    runner = threading.Thread(target=jobs.run, args=(job.pk,))
    runner.start()
    try:
        for _ in range(600):
            job.refresh_from_db()
            if job.status == "running" and job.stage.startswith("fitting"):
                break
            threading.Event().wait(0.05)
        jobs.cancel(job)
    finally:
        runner.join(timeout=120)
    job.refresh_from_db()
    assert job.status == "cancelled", (job.status, job.stage, job.error)
    assert not ModelVersion.objects.exists()


def test_a_job_whose_worker_died_is_failed_later(penguins_dataset):
    from datetime import timedelta

    from django.utils import timezone

    job = jobs.submit(penguins_dataset, "penguins", _options())
    long_ago = (
        timezone.now()
        - timedelta(seconds=60)
        - jobs.ABANDON_GRACE
        - (timedelta(seconds=1))
    )
    TrainingJob.objects.filter(pk=job.pk).update(status="running", started=long_ago)
    recent = jobs.submit(penguins_dataset, "penguins", _options(seed=3))
    TrainingJob.objects.filter(pk=recent.pk).update(
        status="running", started=timezone.now()
    )
    assert jobs.fail_abandoned() == 1
    job.refresh_from_db()
    recent.refresh_from_db()
    assert job.status == "failed" and "worker stopped" in job.error
    assert recent.status == "running"


def test_checks_on_a_large_file_read_a_sample_and_the_whole_label(monkeypatch):
    monkeypatch.setattr(datasets, "PROFILE_ROWS", 50)
    rows = ["id,x,y"] + [f"{i},{i % 7},{'a' if i < 100 else 'b'}" for i in range(120)]
    dataset, _ = datasets.store_upload(
        ["\n".join(rows).encode() + b"\n"], filename="large.csv"
    )
    sample, label = datasets.read_for_checks(dataset, "y")
    assert len(sample) == 50 and label.present == 120
    assert label.counts == {"a": 100, "b": 20}
    # The sample alone holds one class; the whole column has two.
    the_plan = jobs.check(dataset, TrainOptions(label="y"))
    assert the_plan.rows == 120
    assert any("'id' looks like an identifier" in w for w in the_plan.warnings)
    with pytest.raises(TrainingRefused, match="'z' is not in the file"):
        jobs.check(dataset, TrainOptions(label="z"))


def test_checks_on_a_large_parquet_file(monkeypatch, penguins_frame):
    import io

    monkeypatch.setattr(datasets, "PROFILE_ROWS", 50)
    buffer = io.BytesIO()
    penguins_frame.to_parquet(buffer, row_group_size=40)
    dataset, _ = datasets.store_upload([buffer.getvalue()], filename="p.parquet")
    sample, label = datasets.read_for_checks(dataset, "species")
    assert len(sample) == 50 and label.present == 344
    assert jobs.check(dataset, TrainOptions(label="species")).rows == 344


@pytest.mark.slow
def test_the_version_is_ready_before_its_analysis(penguins_dataset, monkeypatch):
    """The job succeeds and the version can predict as soon as the fit is
    scored; the leaderboard, importance and latency are measured after."""
    from registry import services, training

    seen = {}
    analyse = training.analyse

    def observe(version, **kwargs):
        job = TrainingJob.objects.get(version=version)
        fresh = ModelVersion.objects.get(pk=version.pk)
        seen.update(
            job=job.status,
            analysis=fresh.analysis,
            scores=fresh.scores,
            leaderboard=fresh.leaderboard,
            importance=fresh.feature_importance,
            latency=fresh.lineage.latency_ms,
            prediction=services.predict(fresh, _rows(penguins_dataset))[
                "prediction"
            ].tolist(),
        )
        return analyse(version, **kwargs)

    monkeypatch.setattr(training, "analyse", observe)
    job = jobs.submit(penguins_dataset, "penguins", _options())
    assert jobs.run(job.pk) == "succeeded"
    assert seen["job"] == "succeeded" and seen["analysis"] == "running"
    assert seen["scores"]["accuracy"] > 0.5 and len(seen["prediction"]) == 2
    # Before: validation scores only, no importance, no latency.
    assert seen["leaderboard"] and seen["leaderboard"][0]["score_test"] is None
    assert seen["leaderboard"][0]["score_val"] is not None
    assert seen["importance"] == [] and seen["latency"] is None
    job.refresh_from_db()
    version = job.version
    assert version.analysis == "done" and version.analysis_error == ""
    assert version.leaderboard[0]["score_test"] > 0.5
    assert {row["feature"] for row in version.feature_importance} == set(
        version.feature_names()
    )
    assert version.lineage.latency_ms > 0
    assert set(version.lineage.analysis_seconds) == {
        "loading",
        "held-out leaderboard",
        "feature importance",
        "latency",
    }
    kinds = Event.objects.using("events").filter(model_version_id=version.pk)
    assert set(kinds.values_list("kind", flat=True)) >= {
        "version.created",
        "version.analysed",
    }


def _rows(dataset):
    return datasets.read_frame(dataset).drop(columns=["species"]).head(2)


@pytest.mark.slow
def test_a_failed_analysis_keeps_the_version_and_can_run_again(
    penguins_dataset, analyst, monkeypatch
):
    from registry import autogluon
    from registry.errors import AutoGluonError

    def broken(self, *args, **kwargs):
        raise AutoGluonError("AutoGluon could not compute feature importance: boom")

    with monkeypatch.context() as patch:
        patch.setattr(autogluon.Predictor, "feature_importance", broken)
        job = jobs.submit(penguins_dataset, "penguins", _options())
        assert jobs.run(job.pk) == "succeeded"
    job.refresh_from_db()
    version = job.version
    assert version.is_ready and version.analysis == "failed"
    assert "feature importance: boom" in version.analysis_error
    assert version.feature_importance == []
    event = Event.objects.using("events").get(kind="version.analysis_failed")
    assert event.level == "error" and "boom" in event.message
    # Measured again from the stored dataset and the version's own files.
    jobs.reanalyse(version, user=analyst)
    version.refresh_from_db()
    assert version.analysis == "running"
    with pytest.raises(TrainingRefused, match="still running"):
        jobs.reanalyse(version)
    assert jobs.analyse_version.call(version.pk) == "done"
    version.refresh_from_db()
    assert version.analysis == "done" and version.feature_importance
    assert version.leaderboard[0]["score_test"] > 0.5
    assert "loading" in version.lineage.analysis_seconds
    # The rebuilt held-out rows are the ones the version was scored on.
    from registry import training

    assert len(training.holdout_rows(version)) == version.lineage.test_rows


@pytest.mark.slow
def test_an_analysis_without_its_dataset_says_why(penguins_dataset, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    job = jobs.submit(penguins_dataset, "penguins", _options())
    jobs.run(job.pk)
    job.refresh_from_db()
    version = job.version
    # A worker that died mid-analysis: "running" long past its time.
    ModelVersion.objects.filter(pk=version.pk).update(
        analysis="running",
        created=timezone.now() - timedelta(hours=1),
    )
    version.refresh_from_db()
    assert version.analysis_stalled
    datasets.path_of(penguins_dataset).unlink()
    jobs.reanalyse(version)
    assert jobs.analyse_version.call(version.pk) == "failed"
    version.refresh_from_db()
    assert version.analysis == "failed" and version.is_ready
    assert "missing from the server" in version.analysis_error


def _constant_parquet(path, rows: int, group: int = 1_000_000) -> None:
    """`rows` rows of constants (and a 0/1 label), zstd: a few hundred KB."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "x": np.full(group, 1.5),
            "z": np.zeros(group, dtype="int64"),
            "y": np.tile(np.array([0, 1], dtype="int64"), group // 2),
        }
    )
    with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
        for _ in range(rows // group):
            writer.write_table(table)


MEASURE = """
import sys, threading, time
import django
django.setup()
import psutil
from registry import datasets, jobs
from registry.models import Dataset
from registry.training import TrainOptions
dataset = Dataset.objects.get(pk=int(sys.argv[1]))
jobs.check(dataset, TrainOptions(label="y", excluded=["x"]))  # imports, warm caches
process = psutil.Process()
before = peak = process.memory_info().rss
done = threading.Event()
def poll():
    global peak
    while not done.is_set():
        peak = max(peak, process.memory_info().rss)
        time.sleep(0.002)
watcher = threading.Thread(target=poll)
watcher.start()
the_plan = jobs.check(dataset, TrainOptions(label="y"))
done.set()
watcher.join()
print(the_plan.rows, (peak - before) // 2**20)
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, databases=["default", "events"])
def test_planning_a_huge_compressed_parquet_reads_bounded_rows(tmp_path, process_env):
    """20 million rows in a few hundred KB: the plan streams the label column
    instead of loading it (the whole column grew the worker by ~315 MB)."""
    path = tmp_path / "huge.parquet"
    _constant_parquet(path, 20_000_000)
    assert path.stat().st_size < 1_000_000
    dataset, _ = datasets.store_file(path, name="huge")
    assert dataset.rows == 20_000_000
    assert dataset.profile["profiled_rows"] == datasets.PROFILE_ROWS

    sample, label = datasets.read_for_checks(dataset, "y")
    assert len(sample) == datasets.PROFILE_ROWS
    assert label.present == 20_000_000 and label.counts == {0: 10**7, 1: 10**7}
    the_plan = jobs.check(dataset, TrainOptions(label="y"))
    assert (the_plan.rows, the_plan.problem_type) == (20_000_000, "binary")

    measured = subprocess.run(
        [sys.executable, "-c", MEASURE, str(dataset.pk)],
        env={**process_env, "DJANGO_SETTINGS_MODULE": "mlframework.settings"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert measured.returncode == 0, measured.stderr[-2000:]
    rows, growth_mb = map(int, measured.stdout.split()[-2:])
    assert rows == 20_000_000
    assert growth_mb < 64, f"planning grew the process by {growth_mb} MB"


def test_checks_on_a_large_file_see_values_only_past_the_sample(monkeypatch):
    monkeypatch.setattr(datasets, "PROFILE_ROWS", 50)
    monkeypatch.setattr(datasets, "CHUNK_ROWS", 30)
    rows = ["x,y"] + [f"{i % 7},{'a' if i < 100 else 'b'}" for i in range(120)]
    rows += ["3,"] * 5
    dataset, _ = datasets.store_upload(
        ["\n".join(rows).encode() + b"\n"], filename="late.csv"
    )
    the_plan = jobs.check(dataset, TrainOptions(label="y"))
    assert (the_plan.rows, the_plan.problem_type) == (120, "binary")
    assert "5 rows without a label are left out." in the_plan.warnings


def _queued(dataset, **fields):
    return TrainingJob.objects.create(
        dataset=dataset, model_name="penguins", options={"time_limit": 100}, **fields
    )


def test_elapsed_seconds_count_from_start_to_finish_or_now(penguins_dataset):
    from datetime import timedelta

    from django.utils import timezone

    job = _queued(penguins_dataset)
    assert jobs.elapsed_seconds(job) == 0.0
    job.started = timezone.now() - timedelta(seconds=30)
    assert 30 <= jobs.elapsed_seconds(job) < 40
    job.finished = job.started + timedelta(seconds=12)
    assert jobs.elapsed_seconds(job) == 12.0
    job.finished = job.started - timedelta(seconds=5)  # clocks moved back
    assert jobs.elapsed_seconds(job) == 0.0


def test_progress_is_elapsed_against_the_time_limit_below_done(penguins_dataset):
    from datetime import timedelta

    from django.utils import timezone

    job = _queued(penguins_dataset)
    assert jobs.progress_percent(job) == 0
    job.status = TrainingJob.Status.RUNNING
    job.started = timezone.now() - timedelta(seconds=25)
    assert 25 <= jobs.progress_percent(job) <= 30
    job.started = timezone.now() - timedelta(seconds=500)
    assert jobs.progress_percent(job) == 99  # past the limit, not yet done
    job.options = {}
    assert jobs.progress_percent(job) == 0  # no limit: no estimate


def test_live_log_is_the_tail_of_the_log_file_until_saved(penguins_dataset):
    job = _queued(penguins_dataset)
    path = jobs.log_path(job)
    # Another test's job may have had this id (rolled back) and left its log.
    path.unlink(missing_ok=True)
    assert jobs.live_log(job) == ""
    assert path.name == f"training-{job.pk}.log" and path.parent.is_dir()
    path.write_bytes(("start\n" + "x" * 100 + "\nlast line é\n").encode())
    assert jobs.live_log(job).endswith("last line é\n")
    assert jobs.live_log(job, limit=13) == "last line é\n"
    # Cut inside a character: replaced, never an error.
    assert jobs.live_log(job, limit=3).endswith("\n")
    job.log = "saved log"
    assert jobs.live_log(job) == "saved log"
    assert jobs.live_log(job, limit=3) == "log"


def _stopped_worker(state="lost"):
    from django.utils import timezone

    from mlframework.processes.models import Worker

    now = timezone.now()
    return Worker.objects.create(
        worker_id=f"gone:{state}",
        host="elsewhere",
        pid=4321,
        state=state,
        started=now,
        beat=now,
        stopped=now,
    )


def _claimed_by(job, worker, status="RUNNING"):
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(id=job.task_id).update(
        status=status, worker_ids=[worker.worker_id]
    )


def test_a_job_whose_worker_stopped_fails_at_the_sweep_and_its_staging_goes(
    penguins_dataset,
):
    from django.utils import timezone

    from mlframework.processes import services as processes
    from registry import store

    job = jobs.submit(penguins_dataset, "penguins", _options())
    other = jobs.submit(penguins_dataset, "penguins", _options(seed=5))
    TrainingJob.objects.filter(pk__in=[job.pk, other.pk]).update(
        status="running", started=timezone.now()
    )
    worker = _stopped_worker()
    _claimed_by(job, worker)
    staging = store.staging_dir(jobs.staging_owner(job.pk))
    (staging / "predictor").mkdir()
    kept = store.staging_dir(jobs.staging_owner(other.pk))
    processes.sweep()  # its signal runs jobs.fail_abandoned
    job.refresh_from_db()
    other.refresh_from_db()
    assert job.status == "failed" and job.stage == "failed" and job.finished
    assert job.error.startswith(
        "Training stopped: its worker stopped (elsewhere pid 4321"
    )
    assert "queue the training again" in job.error
    assert not staging.exists() and kept.exists()
    assert other.status == "running"  # its task is not held by a stopped worker
    event = Event.objects.using("events").get(kind="training.failed", data__job=job.pk)
    assert "its worker stopped" in event.message
    assert event.data["staging_removed"] == 1
    assert jobs.fail_abandoned() == 0  # once


def test_a_gracefully_stopped_worker_also_fails_the_job_it_left(penguins_dataset):
    from django.utils import timezone

    job = jobs.submit(penguins_dataset, "penguins", _options())
    TrainingJob.objects.filter(pk=job.pk).update(
        status="running", started=timezone.now()
    )
    # Told to stop twice, db_worker gives up the task and exits cleanly.
    _claimed_by(job, _stopped_worker("stopped"), status="FAILED")
    assert jobs.fail_abandoned() == 1
    job.refresh_from_db()
    assert "its worker stopped" in job.error


def test_a_staging_owner_does_not_match_a_longer_job_number(settings):
    from registry import store

    mine = store.staging_dir(jobs.staging_owner(1))
    theirs = store.staging_dir(jobs.staging_owner(12))
    assert mine.name.startswith("job-1-")
    assert store.discard_staging_of(jobs.staging_owner(1)) == 1
    assert not mine.exists() and theirs.exists()
    assert store.discard_staging_of("") == 0
    store.discard(theirs)


def test_a_queued_job_whose_task_a_stopped_worker_took_is_queued_again(
    penguins_dataset,
):
    from django_tasks_db.models import DBTaskResult

    job = jobs.submit(penguins_dataset, "penguins", _options())
    waiting = jobs.submit(penguins_dataset, "penguins", _options(seed=4))
    old_task = job.task_id
    # The worker died between claiming the task and claiming the job.
    _claimed_by(job, _stopped_worker())
    assert jobs.requeue_orphaned() == [job.pk]
    job.refresh_from_db()
    assert job.status == "queued" and job.task_id != old_task
    new_task = DBTaskResult.objects.get(id=job.task_id)
    assert new_task.status == "READY" and new_task.args_kwargs["args"] == [job.pk]
    assert jobs.requeue_orphaned() == []  # the new task is nobody's yet
    assert waiting.task_id == TrainingJob.objects.get(pk=waiting.pk).task_id
    assert "training.requeued" in _kinds(job)
    # And the job runs from its new task.
    assert jobs.run(job.pk) == "succeeded"
