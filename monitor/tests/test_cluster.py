"""The Slurm cluster on the Monitor and in /healthz, against the real
one-node cluster (and a controller made unreachable for this process)."""

import dataclasses
import os
from pathlib import Path

import pytest
from django.urls import reverse

from dispatch.models import Dispatch, DispatchRun
from mlframework.core.executors import job_prefix
from monitor import cluster
from registry.models import RegisteredModel

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def model(db):
    return RegisteredModel.objects.get_or_create(name="penguins")[0]


def _dispatch(model, **fields):
    values = {
        "name": f"d-{Dispatch.objects.count()}",
        "model": model,
        "source_datasource": "demo",
        "source_query": "SELECT 1",
        "sink_datasource": "demo",
        "sink_table": "t",
        "cron": "0 0 1 1 *",
        "enabled": False,
    }
    return Dispatch.objects.create(**{**values, **fields})


@pytest.fixture
def controller_down(monkeypatch, tmp_path):
    conf = Path(os.environ["SLURM_CONF"]).read_text()
    down = tmp_path / "slurm.conf"
    down.write_text(conf.replace("SlurmctldPort=16817", "SlurmctldPort=16899"))
    monkeypatch.setenv("SLURM_CONF", str(down))


def _check(client):
    response = client.get(reverse("healthz"))
    found = [c for c in response.json()["checks"] if c["name"] == "slurm controller"]
    return response.status_code, found


def test_without_slurm_in_use_the_monitor_does_not_probe_it(client, model):
    _dispatch(model)
    assert not cluster.shown()
    assert _check(client)[1] == []


def test_a_down_controller_is_critical_while_an_enabled_dispatch_uses_it(
    slurm_cluster, client, model, controller_down
):
    dispatch = _dispatch(model, executor="slurm", enabled=False)
    status, (check,) = _check(client)
    assert (status, check["status"], check["critical"]) == (200, "down", False)
    Dispatch.objects.filter(pk=dispatch.pk).update(enabled=True)
    from monitor import services

    services.healthz_checks.clear()
    status, (check,) = _check(client)
    assert (status, check["status"], check["critical"]) == (503, "down", True)


def test_an_up_controller_passes(slurm_cluster, client, model):
    _dispatch(model, executor="slurm", enabled=True)
    _, (check,) = _check(client)
    assert (check["status"], check["critical"]) == ("up", True)


def test_the_default_executor_counts_too(
    slurm_cluster, settings, model, controller_down
):
    executors = dataclasses.replace(settings.CONFIG.executors, default="slurm")
    settings.CONFIG = dataclasses.replace(settings.CONFIG, executors=executors)
    _dispatch(model, enabled=True)  # executor "" = the configured default
    assert cluster.in_use()
    assert cluster.shown()


def test_the_monitor_shows_controller_partitions_nodes_and_platform_jobs(
    slurm_cluster, viewer_client, model, tmp_path
):
    dispatch = _dispatch(model, executor="slurm")
    job_id = slurm_cluster.submit(
        "#!/bin/bash\nsleep 300\n",
        slurm_cluster.JobOptions(
            name=f"{job_prefix()}dispatch-x",
            memory="20M",
            output=str(tmp_path / "o.log"),
        ),
    )
    run = DispatchRun.objects.create(
        dispatch=dispatch, executor="slurm", slurm_job_id=job_id
    )
    other = slurm_cluster.submit(
        "#!/bin/bash\nsleep 300\n",
        slurm_cluster.JobOptions(name="someone-else", output=str(tmp_path / "p.log")),
    )
    try:
        page = viewer_client.get(reverse("monitor:index")).content.decode()
        part = viewer_client.get(reverse("monitor:cluster")).content.decode()
    finally:
        slurm_cluster.cancel(other)
    for html in (page, part):
        assert "Controller up" in html
        assert 'data-testid="slurm-partitions"' in html and "<td>debug *</td>" in html
        assert "<td>localhost</td>" in html
        assert f"<td>{job_id}</td>" in html
        assert f'href="{reverse("dispatch:run", args=[run.pk])}"' in html
        assert f"<td>{other}</td>" not in html  # not the platform's job


def test_the_monitor_says_the_controller_is_down(
    slurm_cluster, viewer_client, model, controller_down
):
    _dispatch(model, executor="slurm", enabled=True)
    html = viewer_client.get(reverse("monitor:cluster")).content.decode()
    assert "Controller down" in html
    assert "critical: an enabled dispatch runs on the cluster" in html
    assert "DOWN" in html


def test_the_cluster_part_needs_login(client):
    response = client.get(reverse("monitor:cluster"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_cluster_part_is_get_only(viewer_client):
    assert viewer_client.post(reverse("monitor:cluster")).status_code == 405


def test_the_cluster_part_is_refused_without_view(nobody, client):
    client.force_login(nobody)
    assert client.get(reverse("monitor:cluster")).status_code == 403
