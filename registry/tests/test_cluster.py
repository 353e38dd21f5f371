"""Training jobs on the real one-node Slurm: the job runs manage.py
train_job on the node and produces its version; cancel and lost jobs."""

import datetime as dt
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from mlframework.events.models import Event
from registry import cluster, datasets, jobs
from registry.models import ModelVersion, TrainingJob
from registry.tests.slurm_helpers import wait
from registry.training import TrainOptions

pytestmark = pytest.mark.django_db(databases=["default", "events"], transaction=True)


@pytest.fixture
def penguins_dataset(db):
    from mlframework.core import demo

    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    return dataset


@pytest.fixture
def on_node(settings, process_env):
    """Jobs submitted from this process read the subprocess config (the test
    databases and folders)."""
    settings.CONFIG_FILE = Path(process_env["MLFRAMEWORK_CONFIG"])
    return process_env


def _options(**kwargs):
    return TrainOptions(
        **{
            "label": "species",
            "fast": True,
            "time_limit": 30,
            "executor": "slurm",
            **kwargs,
        }
    )


def _finished(job_id):
    return lambda: TrainingJob.objects.filter(
        pk=job_id, status__in=TrainingJob.FINISHED
    ).first()


@pytest.mark.slow
def test_a_training_job_on_slurm_produces_its_version(
    slurm_cluster, penguins_dataset, on_node, analyst
):
    job = jobs.submit(
        penguins_dataset, "penguins", _options(slurm_cpus=1), user=analyst
    )
    assert job.executor == "slurm"
    assert job.task_id == ""  # not in the task worker's queue
    assert job.slurm_job_id.isdigit()
    assert job.stage == "waiting for the cluster" or job.status != "queued"
    job = wait(_finished(job.pk), 300, "the training on the node")
    assert job.status == "succeeded", (job.error, job.log[-2000:])
    assert job.slurm_node == "localhost"
    version = ModelVersion.objects.get()
    assert job.version == version and version.number == 1
    assert version.model.name == "penguins"
    assert job.models_trained >= 1
    assert job.options["executor"] == "slurm"
    kinds = list(
        Event.objects.using("events")
        .filter(source="registry", data__job=job.pk)
        .order_by("created", "id")
        .values_list("kind", flat=True)
    )
    assert kinds[:3] == ["training.queued", "training.submitted", "training.started"]
    assert "training.finished" in kinds
    # Slurm's final word, once the job is over.
    wait(
        lambda: (
            cluster.reconcile() is not None
            and TrainingJob.objects.get(pk=job.pk).slurm_state == "COMPLETED"
        ),
        120,
        "the reconciler",
        every=3,
    )


def test_cancelling_a_queued_job_takes_it_off_the_cluster(
    slurm_cluster, penguins_dataset, on_node
):
    job = jobs.submit(penguins_dataset, "penguins", _options())
    assert job.queue_position() == 1
    job = jobs.cancel(job)
    assert job.status == "cancelled"
    assert job.slurm_state == "CANCELLED"
    state = wait(
        lambda: (
            (s := slurm_cluster.status([job.slurm_job_id])[job.slurm_job_id]).final
            and s
        ),
        60,
        "the job to end",
    )
    assert state.state in ("CANCELLED", "COMPLETED")  # it may have started
    assert not ModelVersion.objects.exists()


@pytest.mark.slow
def test_with_the_controller_down_the_job_is_not_submitted(
    slurm_cluster, penguins_dataset, on_node, monkeypatch, tmp_path
):
    conf = Path(on_node["SLURM_CONF"]).read_text()
    down = tmp_path / "slurm.conf"
    down.write_text(conf.replace("SlurmctldPort=16817", "SlurmctldPort=16899"))
    monkeypatch.setenv("SLURM_CONF", str(down))
    job = jobs.submit(penguins_dataset, "penguins", _options())
    assert job.status == "failed"
    assert job.slurm_state == cluster.NOT_SUBMITTED
    assert job.error == (
        "Not submitted to Slurm: sbatch failed: Batch job submission failed: "
        "Unable to contact slurm controller (connect failure)"
    )


def test_a_job_no_source_knows_past_min_job_age_is_lost(
    slurm_cluster, penguins_dataset
):
    age = slurm_cluster.cluster_config().min_job_age
    job = TrainingJob.objects.create(
        dataset=penguins_dataset,
        model_name="penguins",
        options=_options().as_dict(),
        status=TrainingJob.Status.RUNNING,
        executor="slurm",
        slurm_job_id="987653",  # never submitted to this cluster
        slurm_state="RUNNING",
    )
    TrainingJob.objects.filter(pk=job.pk).update(
        created=job.created - dt.timedelta(seconds=age + 61)
    )
    assert cluster.reconcile() == [job.pk]
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.slurm_state == cluster.LOST
    assert job.error == "Slurm has no record of the job any more (lost)."


def test_the_node_command_refuses_an_unknown_job(db):
    with pytest.raises(CommandError, match="There is no training job 999"):
        call_command("train_job", "999")


def test_the_job_time_limit_leaves_room_for_the_training(settings):
    assert cluster.resources({"time_limit": 3600}).time_limit == 135
    assert cluster.resources({"time_limit": 60}).time_limit == max(
        settings.CONFIG.executors.slurm.time_limit, 17
    )
    given = cluster.resources(
        {"time_limit": 3600, "slurm_time_limit": 30, "slurm_memory": "4G"}
    )
    assert (given.time_limit, given.memory) == (30, "4G")
