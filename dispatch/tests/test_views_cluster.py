"""The Slurm parts of the dispatch pages: the form's executor and resources,
Run now submitting to the cluster, Cancel (scancel) on the run page."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from dispatch import cluster
from dispatch.models import Dispatch, DispatchRun, RunStatus
from mlframework.core.executors import job_prefix
from mlframework.events.models import Event

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def form_data(tiny_classifier, source_table, tables):
    return {
        "name": "nightly-scores",
        "model": tiny_classifier.model.pk,
        "version_ref": "production",
        "source_datasource": "demo",
        "source_query": f"SELECT * FROM {source_table('demo')}",
        "sink_datasource": "demo",
        "sink_table": tables("demo", "sink"),
        "sink_mode": "append",
        "run_key_format": "%Y-%m-%d",
        "key_columns": "id",
        "cron": "*/5 * * * *",
        "timezone": "UTC",
        "retries": "0",
        "retry_backoff_seconds": "30",
        "chunk_size": "10000",
        "grace_minutes": "10",
    }


@pytest.fixture
def queued_job(slurm_cluster, make_dispatch, tmp_path):
    """A dispatch on Slurm and a queued run holding a real job (it sleeps)."""
    dispatch = make_dispatch(executor="slurm")
    job_id = slurm_cluster.submit(
        "#!/bin/bash\nsleep 300\n",
        slurm_cluster.JobOptions(
            name=f"{job_prefix()}dispatch-test",
            memory="20M",
            output=str(tmp_path / "o.log"),
        ),
    )
    return DispatchRun.objects.create(
        dispatch=dispatch, executor="slurm", slurm_job_id=job_id, slurm_state="PENDING"
    )


def test_an_operator_cancels_a_run_on_the_cluster(
    operator_client, queued_job, slurm_cluster
):
    url = reverse("dispatch:run_cancel", args=[queued_job.pk])
    page = operator_client.get(reverse("dispatch:run", args=[queued_job.pk]))
    assert f'action="{url}"' in page.content.decode()
    response = operator_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == reverse(
        "dispatch:run", args=[queued_job.pk]
    )
    html = response.content.decode()
    assert f"Run {queued_job.pk} cancelled (scancel {queued_job.slurm_job_id})." in html
    queued_job.refresh_from_db()
    assert queued_job.status == RunStatus.CANCELLED
    assert queued_job.error == "Cancelled by otto."
    assert f'action="{url}"' not in html  # no Cancel once it has ended
    state = slurm_cluster.status([queued_job.slurm_job_id])[queued_job.slurm_job_id]
    assert state.state in ("CANCELLED", "COMPLETING")
    assert Event.objects.using("events").filter(
        dispatch_run_id=queued_job.pk, kind="cancelled", username="otto"
    )


def test_viewers_cannot_cancel_nor_see_the_button(viewer_client, queued_job):
    url = reverse("dispatch:run_cancel", args=[queued_job.pk])
    page = viewer_client.get(reverse("dispatch:run", args=[queued_job.pk]))
    assert f'action="{url}"' not in page.content.decode()
    assert viewer_client.post(url).status_code == 403
    queued_job.refresh_from_db()
    assert queued_job.status == RunStatus.QUEUED


def test_cancel_needs_login(client, make_dispatch):
    run = DispatchRun.objects.create(dispatch=make_dispatch())
    response = client.post(reverse("dispatch:run_cancel", args=[run.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_cancel_is_post_only_and_needs_a_run(operator_client, make_dispatch):
    run = DispatchRun.objects.create(dispatch=make_dispatch())
    url = reverse("dispatch:run_cancel", args=[run.pk])
    assert operator_client.get(url).status_code == 405
    assert (
        operator_client.post(reverse("dispatch:run_cancel", args=[9999])).status_code
        == 404
    )


def test_a_local_run_cannot_be_cancelled(operator_client, make_dispatch):
    run = DispatchRun.objects.create(dispatch=make_dispatch(), status=RunStatus.RUNNING)
    response = operator_client.post(
        reverse("dispatch:run_cancel", args=[run.pk]), follow=True
    )
    assert (
        "Only runs on the Slurm cluster can be cancelled." in response.content.decode()
    )
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_a_finished_run_is_not_cancelled_again(operator_client, make_dispatch):
    run = DispatchRun.objects.create(
        dispatch=make_dispatch(executor="slurm"),
        executor="slurm",
        status=RunStatus.SUCCEEDED,
        slurm_job_id="12",
        slurm_state="COMPLETED",
    )
    response = operator_client.post(
        reverse("dispatch:run_cancel", args=[run.pk]), follow=True
    )
    assert f"Run {run.pk} has already ended (succeeded)." in response.content.decode()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_run_now_on_the_cluster_submits_without_a_task_worker(
    operator_client, make_dispatch, slurm_cluster, django_capture_on_commit_callbacks
):
    dispatch = make_dispatch(executor="slurm", source_query="SELECT * FROM nowhere")
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(reverse("dispatch:run_now", args=[dispatch.pk]))
    run = DispatchRun.objects.get(dispatch=dispatch)
    assert response.status_code == 302
    assert run.executor == "slurm" and run.slurm_job_id.isdigit()
    assert run.slurm_state == "PENDING" or run.slurm_state == "RUNNING"
    slurm_cluster.cancel(run.slurm_job_id)


# Committed as in production (no test transaction): the submission runs on
# commit, before the view reads the run back.
@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"], transaction=True)
def test_run_now_says_when_the_cluster_cannot_take_it(
    operator_client, make_dispatch, slurm_cluster, monkeypatch, tmp_path
):
    conf = tmp_path / "slurm.conf"
    conf.write_text(
        Path(os.environ["SLURM_CONF"]).read_text().replace("16817", "16899")
    )
    monkeypatch.setenv("SLURM_CONF", str(conf))
    dispatch = make_dispatch(executor="slurm")
    response = operator_client.post(
        reverse("dispatch:run_now", args=[dispatch.pk]), follow=True
    )
    assert "Not submitted to Slurm: sbatch failed: Batch job submission failed" in (
        response.content.decode()
    )
    run = DispatchRun.objects.get(dispatch=dispatch)
    assert (run.status, run.slurm_state) == (RunStatus.FAILED, cluster.NOT_SUBMITTED)


def test_the_form_saves_the_executor_and_resources(operator_client, form_data):
    data = {
        **form_data,
        "executor": "slurm",
        "slurm_partition": "debug",
        "slurm_cpus": "2",
        "slurm_memory": "512m",
        "slurm_time_limit": "30",
    }
    response = operator_client.post(reverse("dispatch:create"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    dispatch = Dispatch.objects.get(name="nightly-scores")
    assert dispatch.uses_slurm
    resources = dispatch.resources()
    assert (resources.partition, resources.cpus, resources.memory) == (
        "debug",
        2,
        "512M",
    )
    assert resources.time_limit == 30


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("executor", "kubernetes", "Select a valid choice."),
        ("slurm_partition", "debug; rm -rf /", "A partition name holds only"),
        ("slurm_memory", "2 GB", "Memory is written like 512M or 2G."),
        ("slurm_cpus", "0", "Ensure this value is greater than or equal to 1."),
        ("slurm_time_limit", "0", "Ensure this value is greater than or equal to 1."),
    ],
)
def test_the_form_refuses_bad_resources(
    operator_client, form_data, field, value, message
):
    response = operator_client.post(
        reverse("dispatch:create"), {**form_data, field: value}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Dispatch.objects.filter(name="nightly-scores").exists()


def test_a_local_dispatch_stays_local(operator_client, form_data):
    response = operator_client.post(reverse("dispatch:create"), form_data)
    assert response.status_code == 302
    dispatch = Dispatch.objects.get(name="nightly-scores")
    assert dispatch.executor == "" and not dispatch.uses_slurm
