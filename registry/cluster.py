"""Training jobs on Slurm: submit, cancel, and reconcile with the cluster.

The job runs `manage.py train_job <id>` on a node: the same registry.jobs.run
the task worker calls, so stage, models trained, the log and cancelling at
the next model work as locally. What the job cannot record itself (killed for
its time limit or memory, its node lost) the reconciler writes, in words.
"""

from __future__ import annotations

import datetime as dt
import math
import os

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from mlframework.core import executors
from mlframework.events.log import log_event
from mlframework.lib.slurm import SlurmError
from registry import store
from registry.models import TrainingJob
from registry.signals import send_finished

SOURCE = "registry"
NOT_SUBMITTED = executors.NOT_SUBMITTED
LOST = executors.LOST
FINAL = executors.SETTLED
# Minutes a job gets beyond twice its training time: reading, analysis.
SLACK_MINUTES = 15


def log_for(job_id: int):
    return executors.log_dir() / f"training-job-{int(job_id)}.log"


def resources(options: dict) -> executors.Resources:
    """The job's resources: the training's overrides, and a time limit that
    leaves room for the training's own (seconds) unless one was given."""
    configured = executors.Resources(
        cpus=int(options.get("slurm_cpus") or 0),
        memory=options.get("slurm_memory") or "",
        time_limit=int(options.get("slurm_time_limit") or 0),
    )
    if configured.time_limit:
        return configured
    needed = math.ceil(2 * int(options.get("time_limit") or 0) / 60) + SLACK_MINUTES
    minutes = max(settings.CONFIG.executors.slurm.time_limit, needed)
    return executors.Resources(
        configured.partition, configured.cpus, configured.memory, minutes
    )


def submit(job: TrainingJob) -> bool:
    """sbatch the job; without a job id it is failed as not submitted."""
    try:
        job_id = executors.submit(
            ["train_job", str(job.pk)],
            name=f"training-{job.pk}",
            resources=resources(job.options),
            log=log_for(job.pk),
        )
    except SlurmError as exc:
        error = _("Not submitted to Slurm: %(error)s") % {"error": exc}
        TrainingJob.objects.filter(pk=job.pk).update(
            status=TrainingJob.Status.FAILED,
            slurm_state=NOT_SUBMITTED,
            finished=timezone.now(),
            error=error,
            stage="failed",
        )
        job.refresh_from_db()
        send_finished(job, TrainingJob.Status.FAILED, error, None)
        log_event(
            SOURCE,
            "training.not_submitted",
            f"Training job {job.pk} ({job.model_name}) not submitted to Slurm: {exc}",
            level="error",
            data={"job": job.pk},
        )
        return False
    TrainingJob.objects.filter(pk=job.pk).update(
        slurm_job_id=job_id, slurm_state="PENDING", stage="waiting for the cluster"
    )
    log_event(
        SOURCE,
        "training.submitted",
        f"Training job {job.pk} ({job.model_name}) submitted to Slurm as job {job_id}",
        data={"job": job.pk, "slurm_job_id": job_id},
    )
    return True


def start_on_node(job_id: int) -> None:
    """Where the job runs, noted as it starts on its node."""
    TrainingJob.objects.filter(pk=job_id).update(
        slurm_state="RUNNING",
        slurm_node=os.environ.get("SLURMD_NODENAME", "")[:255],
        slurm_partition=os.environ.get("SLURM_JOB_PARTITION", "")[:64],
    )


def cancel_queued(job: TrainingJob) -> None:
    """A job still waiting on the cluster is taken out of its queue (scancel);
    a running one stops at its next model, as locally."""
    if job.slurm_job_id and job.status == TrainingJob.Status.CANCELLED:
        try:
            executors.cancel(job.slurm_job_id)
        except SlurmError as exc:
            log_event(
                SOURCE,
                "training.scancel_failed",
                f"Training job {job.pk}: scancel {job.slurm_job_id} failed: {exc}",
                level="warning",
                data={"job": job.pk},
            )
        TrainingJob.objects.filter(pk=job.pk).update(slurm_state="CANCELLED")


def reconcile(now: dt.datetime | None = None) -> list[int]:
    """Final states for training jobs whose Slurm job ended without them
    recording one; the ids of the jobs it settled."""
    now = now or timezone.now()
    pending = list(
        TrainingJob.objects.filter(executor="slurm")
        .exclude(slurm_job_id="")
        .exclude(slurm_state__in=FINAL)
    )
    if not pending:
        return []
    try:
        states = executors.status([job.slurm_job_id for job in pending])
        min_age = executors.min_job_age()
    except SlurmError:
        return []  # the dispatch reconciler logs the cluster being away
    settled = []
    for job in pending:
        found = states.get(job.slurm_job_id)
        if found is None:
            if job.created > now - dt.timedelta(seconds=min_age + 60):
                continue
            state = LOST
        elif not found.final:
            TrainingJob.objects.filter(pk=job.pk).exclude(slurm_state__in=FINAL).update(
                slurm_state=found.state[:32], slurm_node=found.node[:255]
            )
            continue
        else:
            state = executors.final_state(found, log_for(job.pk))[:32]
        TrainingJob.objects.filter(pk=job.pk).update(slurm_state=state)
        words = executors.ending(state, found.exit_code if found else "")
        status = (
            TrainingJob.Status.CANCELLED
            if state == "CANCELLED"
            else TrainingJob.Status.FAILED
        )
        marked = TrainingJob.objects.filter(
            pk=job.pk,
            status__in=[TrainingJob.Status.QUEUED, TrainingJob.Status.RUNNING],
        ).update(
            status=status,
            finished=now,
            error=str(words)[:1].upper() + str(words)[1:] + ".",
            stage="cancelled" if status == TrainingJob.Status.CANCELLED else "failed",
        )
        if not marked:
            continue
        settled.append(job.pk)
        store.discard_staging_of(f"job-{job.pk}")
        job.refresh_from_db()
        send_finished(job, status, job.error, None)
        log_event(
            SOURCE,
            "training.failed"
            if status == TrainingJob.Status.FAILED
            else "training.cancelled",
            f"Training job {job.pk} ({job.model_name}): {words} "
            f"(Slurm job {job.slurm_job_id}, {state})",
            level="error" if status == TrainingJob.Status.FAILED else "warning",
            data={"job": job.pk, "slurm_state": state},
        )
    return settled


def on_workers_swept(sender, **kwargs) -> None:
    """Receiver of mlframework.processes.signals.swept (registry/apps.py)."""
    reconcile()
