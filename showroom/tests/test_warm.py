"""Aliased versions are loaded before the first request (showroom.warm)."""

import gc
import logging
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mlframework.events import log
from registry.cache import predictors
from showroom import gunicorn
from showroom.warm import warm

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"])
def test_it_preloads_the_aliased_versions(tiny_classifier, tiny_regressor):
    predictors.clear()
    assert warm() == 2  # both carry the alias "production"
    assert tiny_classifier in predictors
    assert tiny_regressor in predictors


@pytest.mark.django_db(databases=["default", "events"])
def test_other_aliases_are_left_cold(tiny_classifier):
    predictors.clear()
    assert warm(["staging"]) == 0
    assert warm([]) == 0
    assert tiny_classifier not in predictors


@pytest.mark.django_db(databases=["default", "events"])
def test_a_broken_version_does_not_stop_the_server(tiny_classifier):
    from mlframework.events.models import Event
    from registry import store

    predictors.clear()
    manifest = store.version_dir("penguins", tiny_classifier.number) / store.MANIFEST
    manifest.unlink()
    assert warm() == 0
    assert Event.objects.using("events").filter(kind="preload.failed").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, env: dict, folder: Path):
    """gunicorn with the Showroom's hooks, one worker, once it has preloaded."""
    log = folder / "gunicorn.log"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "mlframework.wsgi:application",
            "-c",
            "python:showroom.gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--error-logfile",
            str(log),
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while "preloaded" not in (log.read_text() if log.exists() else ""):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
        time.sleep(0.2)
    time.sleep(0.5)  # the hook's last lines
    return server, log


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"], transaction=True)
def test_gunicorn_workers_preload_before_serving(
    tiny_classifier, process_env, tmp_path
):
    port = _free_port()
    server, log = start_gunicorn(port, process_env, tmp_path)
    try:
        assert "showroom: 1 model version(s) preloaded" in log.read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10):
            pass
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.django_db(databases=["default", "events"])
def test_the_example_row_fits_every_kind_of_feature(tiny_classifier):
    from registry import services
    from showroom.tests.features import FEATURES
    from showroom.warm import example_frame

    frame = example_frame(FEATURES)
    assert list(frame.columns) == [f.name for f in FEATURES]
    assert frame.loc[0, "bill_length_mm"] == 43.9
    assert frame.loc[0, "island"] == "Biscoe"
    # And the real model takes it.
    row = example_frame(tiny_classifier.features)
    predicted = services.predict(tiny_classifier, row, probabilities=True)
    assert predicted.loc[0, "prediction"] in tiny_classifier.classes


@pytest.mark.django_db(databases=["default", "events"], transaction=True)
def test_the_worker_hook_preloads_freezes_and_starts_the_event_writer(
    tiny_classifier,
):
    class Worker:
        log = logging.getLogger("test.worker")

    predictors.clear()
    try:
        gunicorn.post_worker_init(Worker())
        assert tiny_classifier in predictors
        assert gc.get_freeze_count() > 0
        assert log._writer.running()
    finally:
        gc.unfreeze()
        gunicorn.worker_exit(None, Worker())
    assert not log._writer.running()
