"""Gunicorn hooks: `gunicorn -c python:showroom.gunicorn ...` (ops/run.sh).

Each worker loads the aliased versions (showroom.warm) after it has loaded
the Django application and before it accepts its first connection.
"""


def post_worker_init(worker) -> None:
    from showroom.warm import warm

    count = warm()
    worker.log.info("showroom: %d model version(s) preloaded", count)
