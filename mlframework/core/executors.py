"""Where work runs: on this host (local) or as a Slurm batch job (slurm).

config.yaml's executors.default picks the executor; a dispatch or a training
may choose another and override the job's resources. A Slurm job runs the
same management command a local run would, on a node, from a rendered batch
script; the adapter (mlframework.lib.slurm) talks to the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from mlframework.lib import slurm
from mlframework.lib.crontab import project_dir, python

# Job names start with this and the installation's tag (cron.tag), so the
# Monitor lists this platform's jobs only, and tests cancel only their own.
JOB_PREFIX = "mlf-"

# What a run or job records when sbatch refused it, or no source knows its job.
NOT_SUBMITTED = "NOT_SUBMITTED"
LOST = "LOST"
# States after which the reconcilers leave a run or a job alone.
SETTLED = slurm.FINAL_STATES | {NOT_SUBMITTED, LOST}


def job_prefix() -> str:
    return f"{JOB_PREFIX}{settings.CONFIG.cron.tag}-"


class Executor(models.TextChoices):
    DEFAULT = "", _("As configured")
    LOCAL = "local", _("This host")
    SLURM = "slurm", _("Slurm cluster")


@dataclass(frozen=True)
class Resources:
    """Per-dispatch or per-training overrides; empty/zero: the configured value."""

    partition: str = ""
    cpus: int = 0
    memory: str = ""
    time_limit: int = 0  # minutes


def chosen(executor: str) -> str:
    """The executor a dispatch or training runs on ("" means the configured one)."""
    return executor or settings.CONFIG.executors.default


def uses_slurm(executor: str) -> bool:
    return chosen(executor) == Executor.SLURM


def log_dir() -> Path:
    return settings.CONFIG.path(settings.CONFIG.executors.slurm.log_dir)


def job_options(name: str, resources: Resources, log: Path) -> slurm.JobOptions:
    config = settings.CONFIG.executors.slurm
    return slurm.JobOptions(
        name=f"{job_prefix()}{name}",
        partition=resources.partition or config.partition,
        account=config.account,
        qos=config.qos,
        cpus=resources.cpus or config.cpus,
        memory=resources.memory or config.memory,
        time_minutes=resources.time_limit or config.time_limit,
        output=str(log),
        workdir=str(project_dir()),
        extra=tuple(config.extra_options),
    )


def submit(arguments: list[str], *, name: str, resources: Resources, log: Path) -> str:
    """Submit `manage.py <arguments>` as a batch job; its Slurm job id.

    The job reads the same config file as this process (a path, never its
    contents); SlurmError when the cluster refuses or cannot be reached.
    """
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise slurm.SlurmError(f"the job log folder {log.parent}: {exc}") from None
    script = slurm.script(
        [python(), "manage.py", *arguments],
        workdir=project_dir(),
        env={
            "DJANGO_SETTINGS_MODULE": "mlframework.settings",
            "MLFRAMEWORK_CONFIG": str(Path(settings.CONFIG_FILE).resolve()),
        },
    )
    return slurm.submit(
        script,
        job_options(name, resources, log),
        timeout=settings.CONFIG.executors.slurm.command_timeout,
    )


def cancel(job_id: str) -> None:
    slurm.cancel(job_id, timeout=settings.CONFIG.executors.slurm.command_timeout)


def status(job_ids: list[str]) -> dict[str, slurm.JobState]:
    config = settings.CONFIG.executors.slurm
    return slurm.status(
        job_ids, accounting=config.accounting, timeout=config.command_timeout
    )


def min_job_age() -> int:
    """Seconds the controller keeps a finished job (MinJobAge)."""
    timeout = settings.CONFIG.executors.slurm.command_timeout
    return slurm.cluster_config(timeout=timeout).min_job_age


def final_state(job: slurm.JobState, log: Path) -> str:
    """Slurm's final word on a job, with a memory kill named as one: a cluster
    without cgroups reports such a job only as FAILED, its log says why."""
    if job.state == "FAILED" and slurm.killed_for_memory(log):
        return "OUT_OF_MEMORY"
    return job.state


# What each final state means for the run, in words.
ENDINGS = {
    "TIMEOUT": _("the Slurm job hit its time limit (timeout)"),
    "OUT_OF_MEMORY": _("the Slurm job ran out of memory"),
    "NODE_FAIL": _("the node running the Slurm job failed"),
    "CANCELLED": _("the Slurm job was cancelled"),
    "PREEMPTED": _("the Slurm job was preempted by higher-priority work"),
    "BOOT_FAIL": _("the node for the Slurm job failed to boot"),
    "DEADLINE": _("the Slurm job missed its deadline"),
    "FAILED": _("the Slurm job failed"),
    "COMPLETED": _("the Slurm job ended without the run finishing"),
    "LOST": _("Slurm has no record of the job any more (lost)"),
}


def ending(state: str, exit_code: str = "") -> str:
    words = str(ENDINGS.get(state, _("the Slurm job ended ({state})"))).format(
        state=state
    )
    if state == "FAILED" and exit_code and exit_code != "0:0":
        words += f" (exit code {exit_code})"
    return words


def platform_jobs() -> list[slurm.JobState]:
    """The platform's queued and running jobs (its job-name prefix)."""
    return [
        job
        for job in slurm.queue(timeout=settings.CONFIG.executors.slurm.command_timeout)
        if job.name.startswith(job_prefix())
    ]
