"""The Slurm cluster seen from the Monitor: the controller, partitions,
nodes, and the platform's own queued and running jobs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q

from dispatch.models import Dispatch, DispatchRun
from mlframework.core import executors
from mlframework.lib import slurm
from monitor import probes
from registry.models import TrainingJob


@dataclass(frozen=True)
class PlatformJob:
    """One of the platform's Slurm jobs, with the run or training it serves."""

    job: slurm.JobState
    run: DispatchRun | None = None
    training: TrainingJob | None = None


@dataclass(frozen=True)
class Cluster:
    ping: slurm.Ping
    partitions: list[slurm.Partition] = field(default_factory=list)
    nodes: list[slurm.Node] = field(default_factory=list)
    jobs: list[PlatformJob] = field(default_factory=list)
    error: str = ""  # why partitions, nodes or jobs could not be read
    needed: bool = False  # an enabled dispatch runs on it


def in_use() -> bool:
    """Does an enabled dispatch run on the cluster? Then a down controller is
    critical: its next run cannot start."""
    on_slurm = Q(executor=executors.Executor.SLURM)
    if settings.CONFIG.executors.default == executors.Executor.SLURM:
        on_slurm |= Q(executor="")
    return Dispatch.objects.filter(on_slurm, enabled=True).exists()


def shown() -> bool:
    """The Monitor shows the cluster where the platform uses it at all."""
    return (
        settings.CONFIG.executors.default == executors.Executor.SLURM
        or Dispatch.objects.filter(executor=executors.Executor.SLURM).exists()
        or TrainingJob.objects.filter(executor=executors.Executor.SLURM).exists()
    )


def look() -> Cluster:
    timeout = settings.CONFIG.executors.slurm.command_timeout
    ping = slurm.ping(timeout=min(timeout, 10))
    needed = in_use()
    if not ping.up:
        return Cluster(ping, needed=needed)
    try:
        queue = executors.platform_jobs()
        partitions = slurm.partitions(timeout=timeout)
        nodes = slurm.nodes(timeout=timeout)
    except slurm.SlurmError as exc:
        return Cluster(ping, error=str(exc), needed=needed)
    ids = [job.job_id for job in queue]
    runs = {
        r.slurm_job_id: r
        for r in DispatchRun.objects.filter(slurm_job_id__in=ids).select_related(
            "dispatch"
        )
    }
    trainings = {
        t.slurm_job_id: t for t in TrainingJob.objects.filter(slurm_job_id__in=ids)
    }
    jobs = [
        PlatformJob(job, runs.get(job.job_id), trainings.get(job.job_id))
        for job in queue
    ]
    return Cluster(ping, partitions, nodes, jobs, needed=needed)


def probe_controller(critical: bool) -> probes.Result:
    """scontrol ping as a Monitor check; critical while a dispatch needs it
    (in_use())."""
    started = time.perf_counter()
    ping = slurm.ping(timeout=min(settings.CONFIG.executors.slurm.command_timeout, 10))
    seconds = time.perf_counter() - started
    return probes.Result(
        "service",
        "slurm controller",
        "scontrol ping",
        probes.Status.UP if ping.up else probes.Status.DOWN,
        seconds,
        "" if ping.up else f"the Slurm controller is down: {ping.text}",
        critical=critical,
    )
