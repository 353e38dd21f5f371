"""The task workers on the Monitor: the check, /healthz, the page, the sweep."""

import dataclasses
import datetime as dt
import os
import subprocess
import sys

import psutil
import pytest
from django.urls import reverse
from django.utils import timezone

from mlframework.processes import services as processes
from mlframework.processes.models import STALE_AFTER, Worker
from monitor import probes, services

pytestmark = pytest.mark.django_db(databases=["default", "events"])


# The probes run in threads, on their own connections: they see committed rows.
committed = pytest.mark.django_db(databases=["default", "events"], transaction=True)


@pytest.fixture(autouse=True)
def _fresh_healthz(settings):
    # /healthz shares results per configuration: a new one per test.
    settings.CONFIG = dataclasses.replace(settings.CONFIG, hosts=[])


def _worker(**fields) -> Worker:
    now = timezone.now()
    values = {
        "worker_id": f"w:{Worker.objects.count() + 1}",
        "host": processes.host_name(),
        "pid": os.getpid(),
        "started": dt.datetime.fromtimestamp(psutil.Process().create_time(), tz=dt.UTC),
        "beat": now,
        **fields,
    }
    return Worker.objects.create(**values)


def _queue_a_task():
    from registry.jobs import analyse_version

    return analyse_version.enqueue(1)


def test_a_beating_worker_is_up_and_named():
    worker = _worker()
    result = probes.probe_task_workers()
    assert result.kind == "service" and result.name == "task worker"
    assert result.ok and not result.critical
    assert result.target == f"1 up: {worker.where}"


def test_no_worker_and_nothing_queued_is_down_but_not_critical():
    _worker(beat=timezone.now() - STALE_AFTER * 2)
    result = probes.probe_task_workers()
    assert result.status == "down" and not result.critical and not result.alerts
    assert "no task worker is running (0 tasks queued)" in result.error


def test_no_worker_alerts_only_while_a_task_waits():
    from monitor import alerts

    [idle] = alerts.probe_findings([probes.probe_task_workers()])
    assert not idle.failing
    _queue_a_task()
    [waiting] = alerts.probe_findings([probes.probe_task_workers()])
    assert waiting.failing and waiting.rule == "service_down"
    assert waiting.key == "service:task worker"


def test_no_worker_while_a_task_waits_is_critical():
    _queue_a_task()
    result = probes.probe_task_workers()
    assert result.status == "down" and result.critical and result.alerts
    assert "(1 task queued)" in result.error and "manage.py task_worker" in result.error


@committed
def test_healthz_fails_while_tasks_wait_for_a_worker(client):
    _queue_a_task()
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    [check] = [c for c in response.json()["checks"] if c["name"] == "task worker"]
    assert check == {
        "kind": "service",
        "name": "task worker",
        "status": "down",
        "critical": True,
        "ms": check["ms"],
    }


@committed
def test_healthz_passes_with_a_worker_up(client):
    _worker()
    _queue_a_task()
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    [check] = [c for c in response.json()["checks"] if c["name"] == "task worker"]
    assert check["status"] == "up"


@committed
def test_the_monitor_page_lists_the_workers(viewer_client):
    up = _worker(task_id="abc", task_name="registry.jobs.run_training_job")
    lost = _worker(host="gpu-1", pid=77, state="lost", stopped=timezone.now())
    html = viewer_client.get(reverse("monitor:checks")).content.decode()
    assert 'id="workers"' in html
    assert f'data-worker="{up.worker_id}"' in html
    assert f'data-worker="{lost.worker_id}"' in html
    assert "registry.jobs.run_training_job" in html
    assert ">lost<" in html and ">up<" in html
    assert "1 up: " in html  # the check's row


@committed
def test_the_page_says_when_no_worker_ran(viewer_client):
    _queue_a_task()
    html = viewer_client.get(reverse("monitor:checks")).content.decode()
    assert "No task worker has run in the last hour: 1 task waiting." in html
    assert "critical check failing: service task worker" in html


@committed
def test_a_worker_down_is_no_problem_for_dispatches_while_nothing_waits():
    current = services.snapshot()
    [check] = [r for r in current.checks if r.name == "task worker"]
    assert not check.ok
    assert not any("task worker" in p for p in current.problems)


def test_the_monitor_round_sweeps_the_workers():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    gone = _worker(pid=child.pid)
    services.check_and_alert()
    gone.refresh_from_db()
    assert gone.state == "lost"
