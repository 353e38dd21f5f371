"""The Slurm adapter: submit, cancel and track batch jobs through the CLI.

One module for the one outside system, with a narrow API (submit, cancel,
status, ping, partitions, nodes) and one exception, SlurmError, whose message
says what failed in words. Commands run with timeouts; SLURM_CONF from the
environment picks the cluster, as for any Slurm client.

A job's state comes from squeue while the controller remembers it, then from
sacct (accounting), then from the job-completion log (JobCompType=
jobcomp/filetxt) where there is no accounting: squeue forgets a finished job
after MinJobAge, and without slurmdbd sacct knows nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# Extra sbatch options may hold only these characters: they are passed as
# arguments, never through a shell, but a script line is rendered from them too.
_SAFE_OPTION = re.compile(r"^--?[A-Za-z][A-Za-z0-9-]*(=[A-Za-z0-9_.,:/@%+=-]*)?$")
_MEMORY = re.compile(r"^[1-9][0-9]*[KMGT]?$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]*$")

# Job states in which the job will not run any more.
FINAL_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "REVOKED",
        "SPECIAL_EXIT",
    }
)
ACTIVE_STATES = frozenset(
    {
        "PENDING",
        "RUNNING",
        "CONFIGURING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "RESIZING",
        "STAGE_OUT",
        "SIGNALING",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESV_DEL_HOLD",
        "STOPPED",
    }
)


class SlurmError(Exception):
    """A Slurm command failed or is missing; str() says which and why."""


@dataclass(frozen=True)
class JobOptions:
    """What sbatch is asked for; empty/zero fields are left to the cluster."""

    name: str = "mlframework"
    partition: str = ""
    account: str = ""
    qos: str = ""
    cpus: int = 1
    memory: str = ""  # sbatch --mem, e.g. 2G
    time_minutes: int = 0
    output: str = ""  # the job's log file (stdout and stderr)
    workdir: str = ""
    extra: tuple[str, ...] = ()

    def arguments(self) -> list[str]:
        check_options(self)
        # Never rerun by Slurm after a node failure or preemption: the run
        # ends in its state and its own retry policy decides what follows.
        args = [
            f"--job-name={self.name}",
            f"--cpus-per-task={self.cpus}",
            "--no-requeue",
        ]
        for flag, value in (
            ("--partition", self.partition),
            ("--account", self.account),
            ("--qos", self.qos),
            ("--mem", self.memory),
            ("--output", self.output),
            ("--chdir", self.workdir),
        ):
            if value:
                args.append(f"{flag}={value}")
        if self.time_minutes:
            args.append(f"--time={self.time_minutes}")
        return args + list(self.extra)


def check_options(options: JobOptions) -> None:
    """Refuse what sbatch would misread; SlurmError names the option."""
    for label, value in (
        ("name", options.name),
        ("partition", options.partition),
        ("account", options.account),
        ("qos", options.qos),
    ):
        if not _NAME.match(value):
            raise SlurmError(f"{label} {value!r} may hold only letters, digits, _ . -")
    if options.cpus < 1:
        raise SlurmError(f"cpus must be at least 1, not {options.cpus}")
    if options.memory and not _MEMORY.match(options.memory):
        raise SlurmError(f"memory {options.memory!r} is not like 512M or 2G")
    if options.time_minutes < 0:
        raise SlurmError("time limit must not be negative")
    for option in options.extra:
        problem = unsafe_option(option)
        if problem:
            raise SlurmError(problem)


def unsafe_option(option: str) -> str:
    """Why an extra sbatch option is refused ("" when it is fine)."""
    if not _SAFE_OPTION.match(option):
        return (
            f"extra sbatch option {option!r} must look like --name=value, without "
            "spaces or shell characters"
        )
    return ""


@dataclass(frozen=True)
class JobState:
    job_id: str
    state: str  # Slurm's word: PENDING, RUNNING, TIMEOUT, ...
    source: str  # squeue, sacct or jobcomp
    partition: str = ""
    node: str = ""
    exit_code: str = ""
    reason: str = ""
    name: str = ""

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class Partition:
    name: str
    available: str  # up, down, drain, inact
    time_limit: str
    nodes: int
    state: str
    default: bool = False


@dataclass(frozen=True)
class Node:
    name: str
    state: str
    cpus: int
    memory_mb: int
    cpu_load: str = ""
    free_memory_mb: str = ""


@dataclass(frozen=True)
class Ping:
    up: bool
    text: str  # what scontrol said, or why it could not be asked


@dataclass(frozen=True)
class ClusterConfig:
    min_job_age: int = 300
    jobcomp_log: str = ""
    accounting: bool = False
    kill_wait: int = 30
    extra: dict = field(default_factory=dict)


TIMEOUT = 30.0


def _run(args: list[str], *, stdin: str | None = None, timeout: float = TIMEOUT):
    if shutil.which(args[0]) is None:
        raise SlurmError(
            f"the Slurm command {args[0]} is not installed on this machine "
            "(install slurm-client)"
        )
    try:
        done = subprocess.run(
            args,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SlurmError(
            f"{args[0]} did not answer within {timeout:.0f} s: is the Slurm "
            "controller up?"
        ) from None
    except OSError as exc:
        raise SlurmError(f"{args[0]} could not be run: {exc}") from None
    return done


def _failure(args: list[str], done) -> SlurmError:
    text = (done.stderr or done.stdout or "").strip().splitlines()
    detail = text[-1] if text else f"exit status {done.returncode}"
    detail = re.sub(r"^\w+: (error|fatal): ", "", detail)
    return SlurmError(f"{args[0]} failed: {detail}")


def submit(script: str, options: JobOptions, *, timeout: float = TIMEOUT) -> str:
    """Submit a batch script (its text, sent on stdin); the job id."""
    args = ["sbatch", "--parsable", *options.arguments()]
    done = _run(args, stdin=script, timeout=timeout)
    if done.returncode != 0:
        raise _failure(args, done)
    job_id = done.stdout.strip().split(";")[0]
    if not job_id.isdigit():
        raise SlurmError(f"sbatch answered {done.stdout.strip()!r}, not a job id")
    return job_id


def cancel(job_id: str, *, timeout: float = TIMEOUT) -> None:
    """scancel; cancelling a job that already ended is not an error."""
    args = ["scancel", str(_job_id(job_id))]
    done = _run(args, timeout=timeout)
    if done.returncode != 0 and "already completing or completed" not in (
        done.stderr or ""
    ):
        raise _failure(args, done)


def _job_id(job_id: str) -> str:
    if not str(job_id).isdigit():
        raise SlurmError(f"{job_id!r} is not a Slurm job id")
    return str(job_id)


def ping(*, timeout: float = 10.0) -> Ping:
    """Is the controller up (scontrol ping)? Never raises."""
    try:
        done = _run(["scontrol", "ping"], timeout=timeout)
    except SlurmError as exc:
        return Ping(False, str(exc))
    text = (done.stdout or done.stderr).strip().splitlines()
    first = text[0] if text else f"exit status {done.returncode}"
    return Ping(done.returncode == 0 and " is UP" in first, first)


def cluster_config(*, timeout: float = TIMEOUT) -> ClusterConfig:
    """The controller's settings that tracking depends on (scontrol show config)."""
    args = ["scontrol", "show", "config"]
    done = _run(args, timeout=timeout)
    if done.returncode != 0:
        raise _failure(args, done)
    values = {}
    for line in done.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    age = re.match(r"\d+", values.get("MinJobAge", "300"))
    wait = re.match(r"\d+", values.get("KillWait", "30"))
    jobcomp = ""
    if values.get("JobCompType") == "jobcomp/filetxt":
        jobcomp = values.get("JobCompLoc", "")
    return ClusterConfig(
        min_job_age=int(age.group()) if age else 300,
        jobcomp_log=jobcomp,
        accounting=values.get("AccountingStorageType", "").endswith("slurmdbd"),
        kill_wait=int(wait.group()) if wait else 30,
    )


def status(
    job_ids: list[str], *, accounting: bool = True, timeout: float = TIMEOUT
) -> dict[str, JobState]:
    """What Slurm knows of each job: squeue, then sacct (unless accounting is
    False or off on the cluster), then the job-completion log. A job absent
    from the result is unknown to every source."""
    ids = [_job_id(job_id) for job_id in job_ids]
    if not ids:
        return {}
    found = _from_squeue(ids, timeout)
    missing = [job_id for job_id in ids if job_id not in found]
    config = None
    if missing:
        config = cluster_config(timeout=timeout)
    if missing and accounting and config.accounting:
        # slurmdbd away: the completion log may still know.
        with contextlib.suppress(SlurmError):
            found.update(_from_sacct(missing, timeout))
        missing = [job_id for job_id in ids if job_id not in found]
    if missing and config.jobcomp_log:
        found.update(_from_jobcomp(Path(config.jobcomp_log), set(missing)))
    return found


def _from_squeue(ids: list[str], timeout: float) -> dict[str, JobState]:
    args = ["squeue", "-h", "--states=all", "-o", "%i|%T|%P|%N|%r", "-j", ",".join(ids)]
    done = _run(args, timeout=timeout)
    if done.returncode != 0:
        if "Invalid job id" in (done.stderr or ""):
            return {}  # every one of them already forgotten
        raise _failure(args, done)
    found = {}
    for line in done.stdout.splitlines():
        parts = line.split("|")
        if len(parts) < 5 or parts[0] not in ids:
            continue
        found[parts[0]] = JobState(
            parts[0], parts[1], "squeue", parts[2], parts[3], reason=parts[4]
        )
    return found


def _from_sacct(ids: list[str], timeout: float) -> dict[str, JobState]:
    args = [
        "sacct",
        "-n",
        "-P",
        "-X",
        "-o",
        "JobIDRaw,State,Partition,NodeList,ExitCode,Reason",
        "-j",
        ",".join(ids),
    ]
    done = _run(args, timeout=timeout)
    if done.returncode != 0:
        raise _failure(args, done)
    found = {}
    for line in done.stdout.splitlines():
        parts = line.split("|")
        if len(parts) < 6 or parts[0] not in ids:
            continue
        # "CANCELLED by 0" -> CANCELLED
        state = parts[1].split()[0] if parts[1] else "UNKNOWN"
        found[parts[0]] = JobState(
            parts[0], state, "sacct", parts[2], parts[3], parts[4], parts[5]
        )
    return found


_FIELD = re.compile(r"(\w+)=(\S*)")


def _from_jobcomp(path: Path, ids: set[str]) -> dict[str, JobState]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        fields = dict(_FIELD.findall(line))
        job_id = fields.get("JobId", "")
        if job_id in ids:  # a requeued job has several lines: the last counts
            found[job_id] = JobState(
                job_id,
                fields.get("JobState", "UNKNOWN"),
                "jobcomp",
                fields.get("Partition", ""),
                fields.get("NodeList", ""),
                fields.get("ExitCode", ""),
            )
    return found


def queue(*, timeout: float = TIMEOUT) -> list[JobState]:
    """Every job the controller holds now (squeue), oldest first."""
    args = ["squeue", "-h", "-o", "%i|%T|%P|%N|%r|%j", "--sort=i"]
    done = _run(args, timeout=timeout)
    if done.returncode != 0:
        raise _failure(args, done)
    jobs = []
    for line in done.stdout.splitlines():
        parts = line.split("|", 5)
        if len(parts) == 6:
            jobs.append(
                JobState(
                    parts[0],
                    parts[1],
                    "squeue",
                    parts[2],
                    parts[3],
                    "",
                    parts[4],
                    parts[5],
                )
            )
    return jobs


def partitions(*, timeout: float = TIMEOUT) -> list[Partition]:
    args = ["sinfo", "-h", "-o", "%P|%a|%l|%D|%T"]
    done = _run(args, timeout=timeout)
    if done.returncode != 0:
        raise _failure(args, done)
    found = []
    for line in done.stdout.splitlines():
        parts = line.split("|")
        if len(parts) < 5:
            continue
        name = parts[0].rstrip("*")
        found.append(
            Partition(
                name,
                parts[1],
                parts[2],
                int(parts[3]) if parts[3].isdigit() else 0,
                parts[4],
                default=parts[0].endswith("*"),
            )
        )
    return found


def nodes(*, timeout: float = TIMEOUT) -> list[Node]:
    args = ["sinfo", "-h", "-N", "-o", "%N|%T|%c|%m|%O|%e"]
    done = _run(args, timeout=timeout)
    if done.returncode != 0:
        raise _failure(args, done)
    found: dict[str, Node] = {}
    for line in done.stdout.splitlines():
        parts = line.split("|")
        if len(parts) < 6 or parts[0] in found:  # one line per partition
            continue
        found[parts[0]] = Node(
            parts[0],
            parts[1],
            int(parts[2]) if parts[2].isdigit() else 0,
            int(parts[3]) if parts[3].isdigit() else 0,
            parts[4],
            parts[5],
        )
    return list(found.values())


# What slurmstepd writes into a job's output when it kills a step for its
# memory: without cgroups (OverMemoryKill) the job itself is only FAILED.
_MEMORY_KILL = re.compile(
    r"exceeded (job )?memory limit|oom[-_ ]kill|out of memory", re.IGNORECASE
)


def killed_for_memory(log: str | Path, *, tail_bytes: int = 65536) -> bool:
    """Whether the end of a job's output file says Slurm killed it for memory."""
    try:
        with open(log, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - tail_bytes))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return False
    return any(
        line.startswith("slurmstepd") and _MEMORY_KILL.search(line)
        for line in text.splitlines()
    )


def script(command: list[str], *, workdir: str | Path, env: dict | None = None) -> str:
    """A batch script that runs `command` in `workdir` as the job's main
    process (exec: scancel's signal reaches it, not a shell in between)."""
    lines = ["#!/bin/bash", "set -e", f"cd {shlex.quote(str(workdir))}"]
    for key, value in sorted((env or {}).items()):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise SlurmError(f"{key!r} is not an environment variable name")
        lines.append(f"export {key}={shlex.quote(str(value))}")
    lines.append("exec " + " ".join(shlex.quote(str(part)) for part in command))
    return "\n".join(lines) + "\n"
