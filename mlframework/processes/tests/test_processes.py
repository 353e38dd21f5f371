"""The real supervisor (manage.py supervise) with the real task worker and
gunicorn: kill -9 either and it comes back; Ctrl-C stops everything; a job
whose worker was killed is failed and the queue goes on."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from mlframework.events.models import Event
from mlframework.processes.models import Worker
from registry import datasets, jobs, store
from registry.models import TrainingJob
from registry.training import TrainOptions

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
    pytest.mark.slow,
]


def _wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what} after {seconds} s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Running:
    """A supervisor in its own process group, which the fixture kills whole."""

    def __init__(self, process: subprocess.Popen, port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    def child(self, marker: str) -> psutil.Process | None:
        try:
            children = psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return None
        for child in children:
            try:
                if marker in " ".join(child.cmdline()) and child.status() != "zombie":
                    return child
            except psutil.NoSuchProcess:
                continue
        return None

    def worker(self) -> Worker | None:
        """The Worker row of the live task worker, once it beats."""
        child = self.child("task_worker")
        if child is None:
            return None
        return Worker.objects.filter(pid=child.pid, state="running").first()

    def healthz(self) -> tuple[int, dict] | None:
        import json

        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except OSError:
            return None


@pytest.fixture
def supervise(process_env, tmp_path):
    started = []

    def start(*extra: str) -> Running:
        port = _free_port()
        log = tmp_path / f"supervisor-{len(started)}.log"
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "supervise",
                "--bind",
                f"127.0.0.1:{port}",
                "--web-workers",
                "1",
                "--heartbeat",
                "1",
                "--backoff",
                "0.5",
                *extra,
            ],
            cwd=ROOT,
            env=process_env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        running = Running(process, port, log)
        started.append(running)
        return running

    yield start
    for running in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.process.pid, signal.SIGKILL)
        running.process.wait(timeout=30)


def test_a_killed_worker_comes_back_with_a_new_pid_and_an_event(supervise):
    running = supervise("--no-web")
    first = _wait(running.worker, 90, "the worker's first heartbeat")
    os.kill(first.pid, signal.SIGKILL)
    second = _wait(
        lambda: (w := running.worker()) and w.pid != first.pid and w,
        90,
        "a new worker",
    )
    assert second.worker_id != first.worker_id
    event = _wait(
        lambda: (
            Event.objects.using("events")
            .filter(kind="process.restarted", data__old_pid=first.pid)
            .first()
        ),
        30,
        "the restart event",
    )
    assert event.data["program"] == "worker" and event.data["pid"] == second.pid
    assert "was killed by SIGKILL" in event.message
    first.refresh_from_db()
    # The new worker's first sweep saw the old process gone.
    assert first.state == "lost"
    lost = Event.objects.using("events").get(kind="worker.lost")
    assert f"process {first.pid} is gone" in lost.message
    line = (
        rf"worker \(pid {first.pid}\) was killed by SIGKILL after \d+ s; "
        r"restarting in 0.5 s"
    )
    assert re.search(line, running.log.read_text())


def test_a_killed_web_server_comes_back_and_answers_healthz(supervise):
    running = supervise()
    _wait(running.worker, 90, "the worker's heartbeat")
    status, body = _wait(running.healthz, 120, "the web server")
    assert status == 200, body
    web = running.child("gunicorn")
    web.kill()
    _wait(
        lambda: (c := running.child("gunicorn")) and c.pid != web.pid,
        60,
        "a new web server",
    )
    status, body = _wait(running.healthz, 120, "the new web server to answer")
    assert status == 200, body
    [worker] = [c for c in body["checks"] if c["name"] == "task worker"]
    assert worker["status"] == "up"
    # The killed master's orphaned worker may answer before the supervisor
    # has logged the restart: wait for the event rather than race it.
    _wait(
        lambda: (
            Event.objects.using("events")
            .filter(
                kind="process.restarted", data__program="web", data__old_pid=web.pid
            )
            .exists()
        ),
        30,
        "the restart event",
    )


@pytest.mark.parametrize("how", ["ctrl-c", "term"])
def test_ctrl_c_or_term_stops_every_child(supervise, how):
    running = supervise()
    _wait(running.healthz, 120, "the web server")
    worker = _wait(running.worker, 90, "the worker's heartbeat")
    family = psutil.Process(running.process.pid).children(recursive=True)
    assert len(family) >= 3  # worker, gunicorn master and its worker
    if how == "ctrl-c":
        # A terminal sends INT to the whole foreground process group.
        os.killpg(running.process.pid, signal.SIGINT)
    else:
        running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=60) == 0
    _, alive = psutil.wait_procs(family, timeout=10)
    assert alive == []
    worker.refresh_from_db()
    assert worker.state == "stopped"
    assert "stopped" in running.log.read_text()
    assert not Event.objects.using("events").filter(kind="process.restarted").exists()


def test_a_worker_killed_while_training_fails_the_job_and_the_queue_goes_on(
    supervise,
):
    from mlframework.core import demo

    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    # Queued while no worker runs: they wait.
    slow = jobs.submit(
        dataset, "penguins", TrainOptions(label="species", time_limit=120)
    )
    quick = jobs.submit(
        dataset,
        "penguins",
        TrainOptions(label="species", fast=True, time_limit=30, seed=2),
    )
    staging = store.root() / ".staging"
    owner = jobs.staging_owner(slow.pk)
    running = supervise("--no-web")

    def fitting():
        job = TrainingJob.objects.get(pk=slow.pk)
        return job.stage == "fitting" and list(staging.glob(f"{owner}-*"))

    _wait(fitting, 180, "the slow job to fit")
    holder = running.worker()
    assert holder.task_name == "registry.jobs.run_training_job"
    killed_at = time.monotonic()
    os.kill(holder.pid, signal.SIGKILL)
    _wait(
        lambda: TrainingJob.objects.get(pk=slow.pk).status == "failed",
        120,
        "the job to be failed",
    )
    assert time.monotonic() - killed_at < 120
    slow.refresh_from_db()
    assert "its worker stopped" in slow.error
    assert f"pid {holder.pid}" in slow.error
    assert list(staging.glob(f"{owner}-*")) == []
    # The job queued behind it runs on the worker started in its place.
    _wait(
        lambda: TrainingJob.objects.get(pk=quick.pk).is_finished,
        240,
        "the queued job to run",
    )
    quick.refresh_from_db()
    assert quick.status == "succeeded", quick.error
    assert Worker.objects.get(worker_id=holder.worker_id).state == "lost"
