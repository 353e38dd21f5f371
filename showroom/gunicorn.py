"""Gunicorn settings for the web workers: `gunicorn -c python:showroom.gunicorn`
(ops/run.sh).

Each worker loads the aliased versions (showroom.warm) after it has loaded
the Django application and before it accepts its first connection.
"""

import os

# A web request predicts a handful of rows: one thread does it fastest. With
# OpenMP's default (a team per core) a one-row LightGBM predict waits for
# every core to be free, and on a busy machine measured 3-4x slower (see
# bench/RESULTS.md). Concurrency comes from gunicorn's workers and threads.
# Set here, in the master, so workers inherit it before they load the models.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def post_worker_init(worker) -> None:
    # The master reads this file before Django is set up; the worker has it.
    from showroom.warm import warm

    count = warm()
    worker.log.info("showroom: %d model version(s) preloaded", count)
