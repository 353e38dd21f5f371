"""Background training: queue a job, run it in manage.py task_worker, cancel it.

Jobs go through django-tasks (django-tasks-db backend, queue "training"), so
they are rows in the database: they survive a restart of the web server and
of the worker, and wait their turn. The TrainingJob row holds what users see
(queue position, stage, models trained, log); the task only carries its id.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from mlframework.core import executors
from mlframework.events.log import log_event
from mlframework.lib.batches import delete_in_batches
from mlframework.processes import services as processes
from registry import cluster, datasets, store
from registry.errors import RegistryError, TrainingCancelled, TrainingRefused
from registry.models import Dataset, ModelVersion, TrainingJob, slug_validator
from registry.signals import send_finished as _send_finished
from registry.signals import training_finished  # noqa: F401 (receivers connect to jobs.training_finished)
from registry.training import Plan, TrainOptions, analyse, plan, train_version

SOURCE = "registry"
QUEUE = "training"
# A job still "running" this long after its time limit lost its worker.
ABANDON_GRACE = timedelta(minutes=15)
logger = logging.getLogger(__name__)


def log_path(job: TrainingJob) -> Path:
    folder = settings.CONFIG.path(settings.CONFIG.paths.logs)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"training-{job.pk}.log"


def check(dataset: Dataset, options: TrainOptions) -> Plan:
    """Everything training would refuse, checked now; DatasetError/TrainingRefused."""
    frame, label_stats = datasets.read_for_checks(dataset, options.label)
    return plan(frame, options, label_stats=label_stats)


def submit(
    dataset: Dataset, model_name: str, options: TrainOptions, *, user=None
) -> TrainingJob:
    """Check, then queue a training job. Refusals raise before anything is saved."""
    slug_validator(model_name)
    the_plan = check(dataset, options)
    options = options.resolved()
    on_slurm = executors.uses_slurm(options.executor)
    with transaction.atomic():
        job = TrainingJob.objects.create(
            dataset=dataset,
            model_name=model_name,
            options=options.as_dict(),
            created_by=user if getattr(user, "pk", None) else None,
            stage="waiting for the cluster" if on_slurm else "waiting for the worker",
            executor="slurm" if on_slurm else "local",
        )
        if not on_slurm:
            result = run_training_job.enqueue(job.pk)
            job.task_id = str(result.id)
            job.save(update_fields=["task_id"])
    log_event(
        SOURCE,
        "training.queued",
        f"Training of {model_name} on {dataset.name} queued "
        f"(job {job.pk}, {options.preset}, {options.time_limit} s)",
        user=user,
        data={"job": job.pk, "dataset": dataset.sha256, "options": job.options},
    )
    if on_slurm:  # after the commit: the job on its node must find the row
        cluster.submit(job)
        job.refresh_from_db()
    job.warnings = the_plan.warnings  # for the page that queued it
    return job


def cancel(job: TrainingJob, *, user=None) -> TrainingJob:
    """A queued job is cancelled at once; a running one at its next model."""
    if job.is_finished:
        raise RegistryError(
            _("Job %(pk)s has already %(status)s.")
            % {"pk": job.pk, "status": job.get_status_display().lower()}
        )
    now = timezone.now()
    stopped = TrainingJob.objects.filter(
        pk=job.pk, status=TrainingJob.Status.QUEUED
    ).update(
        status=TrainingJob.Status.CANCELLED,
        cancel_requested=True,
        finished=now,
        stage="cancelled before it started",
    )
    if not stopped:
        TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    job.refresh_from_db()
    if stopped:
        _send_finished(job, TrainingJob.Status.CANCELLED, "", None)
    if job.slurm_job_id:
        cluster.cancel_queued(job)
        job.refresh_from_db()
    log_event(
        SOURCE,
        "training.cancelled" if stopped else "training.cancel_requested",
        f"Training job {job.pk} ({job.model_name}) "
        + ("cancelled while queued" if stopped else "will stop at its next model"),
        user=user,
        data={"job": job.pk},
    )
    return job


class _Reporter:
    """Progress callback: writes stage and model count, reads cancel requests."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.last_write = 0.0
        self.last_stage = ""

    def __call__(self, stage: str, models: int) -> bool:
        now = time.monotonic()
        changed = stage != self.last_stage
        if changed or now - self.last_write > 1.0:
            TrainingJob.objects.filter(pk=self.job_id).update(
                stage=stage[:64], models_trained=models
            )
            self.last_write, self.last_stage = now, stage
        return TrainingJob.objects.filter(
            pk=self.job_id, cancel_requested=True
        ).exists()


def staging_owner(job_id: int) -> str:
    """What the job's staging folder is named after (store.discard_staging_of)."""
    return f"job-{job_id}"


def fail_abandoned() -> int:
    """Mark jobs whose worker stopped mid-training as failed; return how many.

    A job whose task's worker stopped (its heartbeat, mlframework.processes)
    fails at the next sweep; one far past its time limit (plus ABANDON_GRACE)
    cannot still be training either, whatever ran it. Their staging files go.
    """
    now = timezone.now()
    running = list(TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING))
    stopped = processes.stopped_holders(job.task_id for job in running)
    failed = 0
    for job in running:
        worker = stopped.get(job.task_id)
        deadline = job.started + timedelta(seconds=2 * job.time_limit) + ABANDON_GRACE
        if worker is not None:
            beat = timezone.localtime(worker.beat)
            error = (
                f"Training stopped: its worker stopped ({worker.where}, last "
                f"heartbeat {beat:%Y-%m-%d %H:%M:%S}); queue the training again."
            )
        elif deadline <= now:
            error = (
                "The worker stopped while training (no result long after the time "
                "limit); queue the training again."
            )
        else:
            continue
        marked = TrainingJob.objects.filter(
            pk=job.pk, status=TrainingJob.Status.RUNNING
        ).update(
            status=TrainingJob.Status.FAILED, finished=now, error=error, stage="failed"
        )
        if not marked:
            continue
        failed += 1
        _send_finished(job, TrainingJob.Status.FAILED, error, None)
        removed = store.discard_staging_of(staging_owner(job.pk))
        log_event(
            SOURCE,
            "training.failed",
            f"Training job {job.pk} ({job.model_name}) abandoned: {error}",
            level="error",
            data={"job": job.pk, "staging_removed": removed},
        )
    requeue_orphaned()
    return failed


def requeue_orphaned() -> list[int]:
    """Queued jobs whose task a stopped worker had claimed (it died between
    claiming the task and starting the job) are queued again; their ids."""
    queued = list(TrainingJob.objects.filter(status=TrainingJob.Status.QUEUED))
    stopped = processes.stopped_holders(job.task_id for job in queued)
    requeued = []
    for job in queued:
        if job.task_id not in stopped:
            continue
        with transaction.atomic():
            result = run_training_job.enqueue(job.pk)
            # Conditional on the old task: a concurrent sweep queues it once.
            moved = TrainingJob.objects.filter(
                pk=job.pk, status=TrainingJob.Status.QUEUED, task_id=job.task_id
            ).update(task_id=str(result.id))
            if not moved:
                transaction.set_rollback(True)
                continue
        requeued.append(job.pk)
        log_event(
            SOURCE,
            "training.requeued",
            f"Training job {job.pk} ({job.model_name}) queued again: the worker "
            f"that took it ({stopped[job.task_id].where}) stopped",
            level="warning",
            data={"job": job.pk},
        )
    return requeued


def on_workers_swept(sender, **kwargs) -> None:
    """Receiver of mlframework.processes.signals.swept (registry/apps.py)."""
    fail_abandoned()


def run(job_id: int) -> str:
    """Run one job to its end; the worker calls this through the task."""
    fail_abandoned()
    claimed = TrainingJob.objects.filter(
        pk=job_id, status=TrainingJob.Status.QUEUED
    ).update(
        status=TrainingJob.Status.RUNNING,
        started=timezone.now(),
        stage="reading the dataset",
    )
    if not claimed:
        return "skipped"  # cancelled while queued, or already run
    job = TrainingJob.objects.select_related("dataset", "created_by").get(pk=job_id)
    user = job.created_by
    log_event(
        SOURCE,
        "training.started",
        f"Training job {job.pk} ({job.model_name}) started",
        user=user,
        data={"job": job.pk},
    )
    log_file = log_path(job)
    finished: list[str] = []

    def finish(status: str, error: str = "", version=None) -> None:
        log_text = log_file.read_text(errors="replace") if log_file.exists() else ""
        TrainingJob.objects.filter(pk=job.pk).update(
            status=status,
            finished=timezone.now(),
            error=error,
            version=version,
            log=log_text[-200_000:],
            stage={"succeeded": "done", "cancelled": "cancelled"}.get(status, "failed"),
        )
        finished.append(status)
        _announce(job, status, error, version)
        _send_finished(job, status, error, version)

    try:
        frame = datasets.read_frame(job.dataset)
        options = TrainOptions(**job.options)
        train_version(
            frame,
            name=job.model_name,
            options=options,
            user=user,
            dataset=job.dataset,
            dataset_info=datasets.lineage_info(job.dataset),
            progress=_Reporter(job.pk),
            log_file=log_file,
            staging_owner=staging_owner(job.pk),
            # The job is done once the version can be used; the analysis
            # (leaderboard, importance, latency) then runs in the same task.
            on_ready=lambda version: finish(TrainingJob.Status.SUCCEEDED, "", version),
        )
    except TrainingCancelled:
        finish(TrainingJob.Status.CANCELLED)
    except RegistryError as exc:
        finish(TrainingJob.Status.FAILED, str(exc))
    except Exception as exc:  # the job page must say something, whatever broke
        if finished:  # the version stands; only the analysis broke
            logger.exception("analysis after training job %s failed", job_id)
        else:
            logger.exception("training job %s failed", job_id)
            finish(
                TrainingJob.Status.FAILED,
                f"Unexpected error: {type(exc).__name__}: {exc}",
            )
    return finished[0]


def _announce(job: TrainingJob, status: str, error: str, version) -> None:
    user = job.created_by
    if status == TrainingJob.Status.SUCCEEDED:
        log_event(
            SOURCE,
            "training.finished",
            f"Training job {job.pk} finished: {version}",
            user=user,
            model_version=version,
            data={"job": job.pk},
        )
    elif status == TrainingJob.Status.CANCELLED:
        log_event(
            SOURCE,
            "training.cancelled",
            f"Training job {job.pk} ({job.model_name}) cancelled while running",
            user=user,
            data={"job": job.pk},
        )
    else:
        log_event(
            SOURCE,
            "training.failed",
            f"Training job {job.pk} ({job.model_name}) failed: {error}",
            level="error",
            user=user,
            data={"job": job.pk},
        )


@task(queue_name=QUEUE)
def run_training_job(job_id: int) -> str:
    return run(job_id)


def reanalyse(version: ModelVersion, *, user=None) -> None:
    """Queue the analysis of a version again (it failed, or its worker died)."""
    if not version.is_ready:
        raise TrainingRefused(
            _("%(version)s is %(status)s.")
            % {"version": version, "status": version.get_status_display().lower()}
        )
    if version.analysis == ModelVersion.Analysis.RUNNING and not (
        version.analysis_stalled
    ):
        raise TrainingRefused(
            _("The analysis of %(version)s is still running.") % {"version": version}
        )
    if version.analysis == ModelVersion.Analysis.DONE:
        raise TrainingRefused(
            _("The analysis of %(version)s is complete.") % {"version": version}
        )
    ModelVersion.objects.filter(pk=version.pk).update(
        analysis=ModelVersion.Analysis.RUNNING, analysis_error=""
    )
    transaction.on_commit(lambda: analyse_version.enqueue(version.pk))
    log_event(
        SOURCE,
        "version.analysis_queued",
        f"{version}: leaderboard, importance and latency queued again",
        user=user,
        model_version=version,
    )


@task(queue_name=QUEUE)
def analyse_version(version_id: int) -> str:
    version = ModelVersion.objects.select_related("model", "dataset").get(pk=version_id)
    if version.status != ModelVersion.Status.READY:
        ModelVersion.objects.filter(pk=version.pk).update(
            analysis=ModelVersion.Analysis.FAILED,
            analysis_error=f"{version} is {version.get_status_display().lower()}.",
        )
        return "skipped"
    return analyse(version).analysis


def elapsed_seconds(job: TrainingJob) -> float:
    if job.started is None:
        return 0.0
    end = job.finished or timezone.now()
    return max(0.0, (end - job.started).total_seconds())


def progress_percent(job: TrainingJob) -> int:
    """Elapsed against the time limit (training itself may end earlier)."""
    if job.status == TrainingJob.Status.SUCCEEDED:
        return 100
    if job.started is None or not job.time_limit:
        return 0
    return min(99, int(100 * elapsed_seconds(job) / job.time_limit))


def live_log(job: TrainingJob, limit: int = 20_000) -> str:
    if job.log:
        return job.log[-limit:]
    path = log_path(job)
    if not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - limit))
        return handle.read().decode("utf-8", errors="replace")


def prune_jobs(before, batch: int) -> int:
    """Delete finished training jobs that ended before `before`, with their
    log files. The versions they made stay (their lineage has the job's
    options); a job's dataset stays until retention of datasets."""
    old = TrainingJob.objects.filter(
        status__in=TrainingJob.FINISHED, finished__lt=before
    )
    return delete_in_batches(old, batch, on_batch=_remove_logs)


def _remove_logs(jobs: list[TrainingJob]) -> None:
    for job in jobs:
        log_path(job).unlink(missing_ok=True)
