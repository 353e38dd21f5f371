"""Dispatch runs on Slurm: submit, cancel, and reconcile with the cluster.

Cron stays the scheduler: its line (or Run now) records a queued run and
submits a batch job that runs `manage.py dispatch execute <run>` on a node,
where dispatch/runner.py does the rest exactly as locally (claim, started,
heartbeat, all-or-nothing write, finished). What the runner cannot record
itself (a job killed for its time limit, its memory, its node, a scancel) the
reconciler reads from Slurm and writes as the run's final state, in words.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from dispatch.models import Dispatch, DispatchRun, RunStatus, Trigger
from mlframework.core import executors
from mlframework.events.log import log_event
from mlframework.lib.slurm import SlurmError

SOURCE = "dispatch"
NOT_SUBMITTED = executors.NOT_SUBMITTED
LOST = executors.LOST
# Slurm ended the job itself: the process was killed, it recorded nothing.
KILLED = frozenset(
    {
        "CANCELLED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "REVOKED",
    }
)
SETTLED = executors.SETTLED


class CancelRefused(Exception):
    """The run cannot be cancelled (not on Slurm, already over); str() says why."""


@dataclass(frozen=True)
class Submission:
    run: DispatchRun
    submitted: bool
    error: str = ""


def log_for(run_id: int):
    return executors.log_dir() / f"dispatch-run-{int(run_id)}.log"


def submit(run: DispatchRun) -> Submission:
    """Submit the queued run's job; without a job it is failed as not submitted."""
    dispatch = run.dispatch
    try:
        job_id = executors.submit(
            ["dispatch", "execute", str(run.pk)],
            name=f"dispatch-{dispatch.pk}",
            resources=dispatch.resources(),
            log=log_for(run.pk),
        )
    except SlurmError as exc:
        error = _("Not submitted to Slurm: %(error)s") % {"error": exc}
        DispatchRun.objects.filter(pk=run.pk).update(
            executor="slurm",
            status=RunStatus.FAILED,
            slurm_state=NOT_SUBMITTED,
            finished=timezone.now(),
            error=error,
        )
        run.refresh_from_db()
        log_event(
            SOURCE,
            "not_submitted",
            f"Dispatch {dispatch.name}: run {run.pk} not submitted to Slurm: {exc}",
            level="error",
            dispatch_run=run,
            data={"dispatch": dispatch.pk},
        )
        return Submission(run, False, error)
    DispatchRun.objects.filter(pk=run.pk).update(
        executor="slurm", slurm_job_id=job_id, slurm_state="PENDING"
    )
    run.refresh_from_db()
    log_event(
        SOURCE,
        "submitted",
        f"Dispatch {dispatch.name}: run {run.pk} submitted to Slurm as job {job_id}",
        dispatch_run=run,
        data={"dispatch": dispatch.pk, "slurm_job_id": job_id},
    )
    return Submission(run, True)


def submit_with_retries(run: DispatchRun, *, sleep=time.sleep) -> Submission:
    """Submit; when the cluster cannot take it, try again as the dispatch's
    retry policy says (each attempt its own run, as local retries)."""
    while True:
        attempt = submit(run)
        dispatch = run.dispatch
        if attempt.submitted or run.attempt > dispatch.retries:
            return attempt
        wait = dispatch.retry_backoff_seconds * (2 ** (run.attempt - 1))
        log_event(
            SOURCE,
            "retry",
            f"Dispatch {dispatch.name}: submitting again in {wait} s "
            f"(attempt {run.attempt + 1} of {dispatch.retries + 1})",
            dispatch_run=run,
            level="warning",
            data={"dispatch": dispatch.pk, "wait_seconds": wait},
        )
        sleep(wait)
        run = DispatchRun.objects.create(
            dispatch=dispatch,
            trigger=Trigger.RETRY,
            scheduled_for=run.scheduled_for,
            attempt=run.attempt + 1,
            requested_by=run.requested_by,
            executor="slurm",
        )


def run_scheduled(dispatch: Dispatch) -> Submission:
    """What cron's line does for a dispatch on Slurm: record, then submit."""
    run = DispatchRun.objects.create(
        dispatch=dispatch,
        trigger=Trigger.CRON,
        scheduled_for=dispatch.previous_due(),
        executor="slurm",
    )
    return submit_with_retries(run)


def start_on_node(run_id: int) -> DispatchRun | None:
    """What the job does first on its node: note where it runs; None when the
    run is no longer queued (cancelled while the job waited)."""
    marked = DispatchRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        slurm_state="RUNNING",
        slurm_node=os.environ.get("SLURMD_NODENAME", "")[:255],
        slurm_partition=os.environ.get("SLURM_JOB_PARTITION", "")[:64],
    )
    if not marked:
        return None
    return DispatchRun.objects.select_related("dispatch").get(pk=run_id)


def cancel(run: DispatchRun, user) -> DispatchRun:
    """scancel the run's job; the run is cancelled at once (its transaction,
    if it had one open, is never committed)."""
    if not run.slurm_job_id:
        raise CancelRefused(_("Only runs on the Slurm cluster can be cancelled."))
    if not run.is_active:
        raise CancelRefused(
            _("Run %(run)s has already ended (%(status)s).")
            % {"run": run.pk, "status": run.get_status_display().lower()}
        )
    try:
        executors.cancel(run.slurm_job_id)
    except SlurmError as exc:
        raise CancelRefused(str(exc)) from None
    who = getattr(user, "username", "") or "the system"
    _settle(
        run,
        RunStatus.CANCELLED,
        "CANCELLED",
        _("Cancelled by %(user)s.") % {"user": who},
    )
    run.refresh_from_db()
    log_event(
        SOURCE,
        "cancelled",
        f"{who} cancelled dispatch {run.dispatch.name} run {run.pk} "
        f"(Slurm job {run.slurm_job_id})",
        user=user,
        dispatch_run=run,
        level="warning",
        data={"dispatch": run.dispatch_id, "slurm_job_id": run.slurm_job_id},
    )
    return run


def _settle(run: DispatchRun, status: str, state: str, error: str) -> bool:
    """Final state for a run still active (or failed by the heartbeat sweep,
    which cannot know why the process went); the claim is released."""
    updated = (
        DispatchRun.objects.filter(pk=run.pk)
        .exclude(status__in=[RunStatus.SUCCEEDED, RunStatus.SKIPPED])
        .exclude(status=RunStatus.CANCELLED)
        .update(
            status=status,
            slurm_state=state,
            finished=run.finished or timezone.now(),
            error=error,
            rows_written=0,
        )
    )
    DispatchRun.objects.filter(pk=run.pk).exclude(slurm_state=state).update(
        slurm_state=state
    )
    Dispatch.objects.filter(pk=run.dispatch_id, claimed_run_id=run.pk).update(
        claimed_run_id=None
    )
    return bool(updated)


def reconcile(now: dt.datetime | None = None) -> list[int]:
    """Bring every unsettled Slurm run up to what Slurm knows; the ids of the
    runs given a final state. A job no source knows past MinJobAge is lost."""
    now = now or timezone.now()
    runs = list(
        DispatchRun.objects.filter(executor="slurm")
        .exclude(slurm_job_id="")
        .exclude(slurm_state__in=SETTLED)
        .select_related("dispatch")
    )
    if not runs:
        return []
    try:
        states = executors.status([run.slurm_job_id for run in runs])
        min_age = executors.min_job_age()
    except SlurmError as exc:
        log_event(
            SOURCE,
            "slurm_unreachable",
            f"Dispatch runs on Slurm not reconciled: {exc}",
            level="warning",
        )
        return []
    settled = []
    for run in runs:
        job = states.get(run.slurm_job_id)
        if job is None:
            if run.created > now - dt.timedelta(seconds=min_age + 60):
                continue  # just submitted, or squeue between two answers
            state, status = LOST, RunStatus.FAILED
            words = executors.ending(LOST)
        elif not job.final:
            DispatchRun.objects.filter(pk=run.pk).exclude(
                slurm_state__in=SETTLED
            ).update(
                slurm_state=job.state[:32],
                slurm_node=job.node[:255] or run.slurm_node,
                slurm_partition=job.partition[:64] or run.slurm_partition,
            )
            continue
        else:
            state = executors.final_state(job, log_for(run.pk))[:32]
            status = RunStatus.CANCELLED if state == "CANCELLED" else RunStatus.FAILED
            words = executors.ending(state, job.exit_code)
        run.refresh_from_db()
        if not _overrides(run, state):
            # The run recorded its own end; only Slurm's word is kept.
            DispatchRun.objects.filter(pk=run.pk).update(slurm_state=state)
            continue
        if job is not None:
            DispatchRun.objects.filter(pk=run.pk).update(
                slurm_node=job.node[:255] or run.slurm_node,
                slurm_partition=job.partition[:64] or run.slurm_partition,
            )
        error = _("%(ending)s; nothing it wrote was committed.") % {
            "ending": str(words)[:1].upper() + str(words)[1:]
        }
        if _settle(run, status, state, error):
            settled.append(run.pk)
            log_event(
                SOURCE,
                "cancelled" if status == RunStatus.CANCELLED else "failed",
                f"Dispatch {run.dispatch.name}: run {run.pk}: {words} "
                f"(Slurm job {run.slurm_job_id}, {state})",
                level="warning" if status == RunStatus.CANCELLED else "error",
                dispatch_run=run,
                data={"dispatch": run.dispatch_id, "slurm_state": state},
            )
    return settled


def _overrides(run: DispatchRun, state: str) -> bool:
    """Does Slurm's final state replace what the run holds? Always while the
    run is still queued or running; over a failure only when Slurm killed the
    process (the heartbeat sweep can only say "it died"); never over a run
    that finished on its own."""
    if run.is_active:
        return True
    return run.status == RunStatus.FAILED and state in KILLED


def on_workers_swept(sender, **kwargs) -> None:
    """Receiver of mlframework.processes.signals.swept (dispatch/apps.py)."""
    reconcile()
