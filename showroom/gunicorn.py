"""Gunicorn settings for the web workers: `gunicorn -c python:showroom.gunicorn`
(ops/run.sh).

Each worker loads the aliased versions (showroom.warm) after it has loaded
the Django application and before it accepts its first connection.
"""

import gc
import os
from pathlib import Path

# A web request predicts a handful of rows: one thread does it fastest. With
# OpenMP's default (a team per core) a one-row LightGBM predict waits for
# every core to be free, and on a busy machine measured 3-4x slower (see
# bench/RESULTS.md). Concurrency comes from gunicorn's workers and threads.
# Set here, in the master, so workers inherit it before they load the models.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def post_worker_init(worker) -> None:
    # Imported here: this module is read by gunicorn's master, before Django.
    from django.conf import settings

    from mlframework.events import log
    from showroom.warm import warm

    count = warm()
    worker.log.info("showroom: %d model version(s) preloaded", count)
    # What is loaded by now (Django, the models) lives as long as the worker:
    # the collector's full passes need not walk it again and again.
    gc.freeze()
    if settings.CONFIG.events.write_behind:
        log.start_writer()
        worker.log.info("events: written by a writer thread")


def worker_exit(server, worker) -> None:
    # Also flushed at exit (atexit); here too, as gunicorn calls it on every
    # orderly exit of a worker, before the interpreter shuts down.
    from mlframework.events import log

    log.stop_writer(timeout=30)


def worker_abort(worker) -> None:
    # A worker past its timeout is killed next (SIGKILL): store what it holds.
    from mlframework.events import log

    log.stop_writer(timeout=5)


def on_starting(server) -> None:
    # Loading the settings here, in the master, sets PROMETHEUS_MULTIPROC_DIR
    # for every worker it forks; /metrics' counts start from zero with each
    # server (the files of an earlier one's workers are nobody's now). The
    # workers keep only counters and histograms, so no child_exit cleanup.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlframework.settings")
    from django.conf import settings

    for file in Path(settings.METRICS_DIR).glob("*.db"):
        file.unlink(missing_ok=True)
