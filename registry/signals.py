"""The registry's signals, apart so that jobs and the Slurm reconciler both
send them (cluster.py cannot import jobs.py, which imports it)."""

from __future__ import annotations

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

# Sent once a job has its final state (job, status, error, version); retrain
# runs follow it (registry.retraining). Receivers' errors never fail the job.
training_finished = Signal()


def send_finished(job, status: str, error: str, version) -> None:
    for receiver, result in training_finished.send_robust(
        sender=type(job), job=job, status=status, error=error, version=version
    ):
        if isinstance(result, Exception):
            logger.error(
                "training_finished receiver %s failed for job %s: %r",
                receiver,
                job.pk,
                result,
            )
