"""Every change to a dispatch goes through here; each one logs an event.

The database changes inside a transaction and the crontab is written last:
when cron refuses the change, the database change is rolled back too, so the
two never disagree because of a failed save.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from dispatch import cluster, crontab
from dispatch.models import Dispatch, DispatchRun, RunStatus, Trigger
from dispatch.tasks import execute_run
from mlframework.events.log import log_event
from mlframework.lib.batches import delete_in_batches

SOURCE = "dispatch"


def _who(user) -> str:
    return getattr(user, "username", "") or "the system"


def save(dispatch: Dispatch, user, *, created: bool = False) -> Dispatch:
    """Save a new or edited dispatch and make its crontab line match."""
    with transaction.atomic():
        if created:
            dispatch.created_by = user if getattr(user, "pk", None) else None
        was_enabled = (
            not created
            and Dispatch.objects.filter(pk=dispatch.pk, enabled=True).exists()
        )
        if dispatch.enabled and not was_enabled:
            dispatch.enabled_at = timezone.now()
        dispatch.save()
        if dispatch.enabled:
            crontab.install(dispatch)
        else:
            crontab.remove(dispatch.pk)
    log_event(
        SOURCE,
        "created" if created else "changed",
        f"{_who(user)} {'created' if created else 'changed'} dispatch "
        f"{dispatch.name} ({dispatch.cron}, {dispatch.timezone}, "
        f"{'enabled' if dispatch.enabled else 'disabled'})",
        user=user,
        data={"dispatch": dispatch.pk},
    )
    return dispatch


def delete(dispatch: Dispatch, user) -> None:
    pk, name = dispatch.pk, dispatch.name
    with transaction.atomic():
        dispatch.delete()
        crontab.remove(pk)
    log_event(
        SOURCE,
        "deleted",
        f"{_who(user)} deleted dispatch {name}",
        user=user,
        data={"dispatch": pk},
    )


def enable(dispatch: Dispatch, user, reason: str = "") -> None:
    """enabled=True and the crontab line written."""
    with transaction.atomic():
        Dispatch.objects.filter(pk=dispatch.pk).update(
            enabled=True,
            enabled_at=timezone.now(),
            paused_by=None,
            paused_at=None,
            pause_reason="",
        )
        dispatch.refresh_from_db()
        crontab.install(dispatch)
    log_event(
        SOURCE,
        "enabled",
        f"{_who(user)} enabled dispatch {dispatch.name}"
        + (f": {reason}" if reason else ""),
        user=user,
        data={"dispatch": dispatch.pk, "reason": reason},
    )


def disable(dispatch: Dispatch, user, reason: str = "") -> None:
    """enabled=False, who/when/why recorded, the crontab line removed."""
    with transaction.atomic():
        Dispatch.objects.filter(pk=dispatch.pk).update(
            enabled=False,
            paused_by=user if getattr(user, "pk", None) else None,
            paused_at=timezone.now(),
            pause_reason=reason[:500],
        )
        dispatch.refresh_from_db()
        crontab.remove(dispatch.pk)
    log_event(
        SOURCE,
        "disabled",
        f"{_who(user)} disabled dispatch {dispatch.name}"
        + (f": {reason}" if reason else ""),
        user=user,
        data={"dispatch": dispatch.pk, "reason": reason},
        level="warning",
    )


def pause_all(user, reason: str = "") -> int:
    """Disable every enabled dispatch; returns how many."""
    with transaction.atomic():
        ids = list(Dispatch.objects.filter(enabled=True).values_list("pk", flat=True))
        count = Dispatch.objects.filter(pk__in=ids).update(
            enabled=False,
            paused_by=user if getattr(user, "pk", None) else None,
            paused_at=timezone.now(),
            pause_reason=reason[:500],
        )
        crontab.sync()
    log_event(
        SOURCE,
        "paused_all",
        f"{_who(user)} paused {count} dispatch(es)" + (f": {reason}" if reason else ""),
        user=user,
        data={"dispatches": ids, "reason": reason},
        level="warning",
    )
    return count


def resume_all(user, reason: str = "") -> int:
    """Enable again every dispatch that was paused; returns how many."""
    with transaction.atomic():
        ids = list(
            Dispatch.objects.filter(enabled=False, paused_at__isnull=False).values_list(
                "pk", flat=True
            )
        )
        count = Dispatch.objects.filter(pk__in=ids).update(
            enabled=True,
            enabled_at=timezone.now(),
            paused_by=None,
            paused_at=None,
            pause_reason="",
        )
        crontab.sync()
    log_event(
        SOURCE,
        "resumed_all",
        f"{_who(user)} resumed {count} dispatch(es)"
        + (f": {reason}" if reason else ""),
        user=user,
        data={"dispatches": ids, "reason": reason},
    )
    return count


def run_now(dispatch: Dispatch, user) -> DispatchRun:
    """Queue a run in the background task queue; the worker executes it."""
    run = DispatchRun.objects.create(
        dispatch=dispatch,
        status=RunStatus.QUEUED,
        trigger=Trigger.MANUAL,
        scheduled_for=timezone.now(),
        requested_by=user if getattr(user, "pk", None) else None,
        executor="slurm" if dispatch.uses_slurm else "local",
    )
    if dispatch.uses_slurm:  # the cluster queues it; no task worker needed
        transaction.on_commit(lambda: cluster.submit(run))
    else:
        transaction.on_commit(lambda: execute_run.enqueue(run.pk))
    log_event(
        SOURCE,
        "queued",
        f"{_who(user)} queued a run of dispatch {dispatch.name}",
        user=user,
        dispatch_run=run,
        data={"dispatch": dispatch.pk},
    )
    return run


def prune_runs(before, batch: int) -> int:
    """Delete finished runs that ended before `before` (their drift reports
    and realised scores with them), keeping each dispatch's last run: the
    schedule's timing and the Monitor read it."""
    last = (
        DispatchRun.objects.values("dispatch")
        .annotate(last=Max("id"))
        .values_list("last", flat=True)
    )
    old = DispatchRun.objects.filter(
        status__in=[
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.SKIPPED,
            RunStatus.CANCELLED,
        ],
        finished__lt=before,
    ).exclude(pk__in=list(last))
    return delete_in_batches(old, batch)
