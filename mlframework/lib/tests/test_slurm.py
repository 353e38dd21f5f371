"""The Slurm adapter against the real one-node cluster ops/test.sh starts
(accounting on, MinJobAge 10 s so squeue forgets finished jobs quickly)."""

import os
import subprocess
import time
from pathlib import Path

import pytest

from mlframework.core.executors import job_prefix
from mlframework.lib import slurm
from mlframework.lib.slurm import JobOptions, SlurmError


def _wait(condition, seconds: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"gave up waiting for {what} after {seconds} s")


def _options(tmp_path, **fields) -> JobOptions:
    return JobOptions(
        **{
            "name": f"{job_prefix()}test",
            "memory": "50M",
            "output": str(tmp_path / "job-%j.log"),
            "workdir": str(tmp_path),
            **fields,
        }
    )


def _forgotten_by_squeue(job_ids):
    return lambda: not slurm._from_squeue(list(job_ids), 10)


def test_a_submitted_job_runs_its_script(slurm_cluster, tmp_path):
    script = slurm.script(
        ["python3", "-c", "import os; print('hello from', os.environ['GREETING'])"],
        workdir=tmp_path,
        env={"GREETING": "it's me"},
    )
    job_id = slurm.submit(script, _options(tmp_path))
    assert job_id.isdigit()
    job = _wait(
        lambda: (s := slurm.status([job_id]).get(job_id)) and s.final and s,
        60,
        "the job to end",
    )
    assert job.state == "COMPLETED"
    assert job.node == "localhost"
    assert job.partition == "debug"
    assert (tmp_path / f"job-{job_id}.log").read_text() == "hello from it's me\n"


@pytest.mark.slow
def test_states_come_from_squeue_then_sacct_or_the_completion_log(
    slurm_cluster, tmp_path
):
    ok = slurm.submit("#!/bin/bash\ntrue\n", _options(tmp_path))
    failed = slurm.submit("#!/bin/bash\nexit 3\n", _options(tmp_path))
    cancelled = slurm.submit("#!/bin/bash\nsleep 300\n", _options(tmp_path))
    ids = [ok, failed, cancelled]
    _wait(
        lambda: slurm.status([cancelled])[cancelled].state == "RUNNING",
        60,
        "the long job to run",
    )
    live = slurm.status([cancelled])[cancelled]
    assert (live.source, live.node) == ("squeue", "localhost")
    slurm.cancel(cancelled)
    slurm.cancel(ok)  # already over (or about to be): not an error
    _wait(_forgotten_by_squeue(ids), 120, "squeue to forget the jobs", every=2)

    with_accounting = slurm.status(ids)
    without = slurm.status(ids, accounting=False)
    assert {j.source for j in with_accounting.values()} == {"sacct"}
    assert {j.source for j in without.values()} == {"jobcomp"}
    expected = {ok: "COMPLETED", failed: "FAILED", cancelled: "CANCELLED"}
    assert {i: j.state for i, j in with_accounting.items()} == expected
    assert {i: j.state for i, j in without.items()} == expected
    assert with_accounting[failed].exit_code == without[failed].exit_code == "3:0"
    assert without[ok].node == "localhost"


@pytest.mark.slow
def test_a_timeout_reads_the_same_in_sacct_and_the_completion_log(
    slurm_cluster, tmp_path
):
    job_id = slurm.submit(
        "#!/bin/bash\nsleep 600\n", _options(tmp_path, time_minutes=1)
    )
    _wait(lambda: slurm.status([job_id])[job_id].final, 180, "the time limit", every=3)
    _wait(_forgotten_by_squeue([job_id]), 120, "squeue to forget it", every=2)
    assert slurm.status([job_id])[job_id].state == "TIMEOUT"
    assert slurm.status([job_id], accounting=False)[job_id].state == "TIMEOUT"


def _final(job_id: str, seconds: float = 120):
    return _wait(
        lambda: (s := slurm.status([job_id])[job_id]).final and s,
        seconds,
        f"job {job_id} to end",
        every=1,
    )


def _both_sources_say(job_id: str, state: str) -> None:
    """Once squeue has forgotten it, sacct and the completion log agree."""
    _wait(_forgotten_by_squeue([job_id]), 120, "squeue to forget it", every=2)
    assert slurm.status([job_id])[job_id].state == state
    assert slurm.status([job_id], accounting=False)[job_id].state == state


def _scontrol(*args: str) -> None:
    subprocess.run(["scontrol", *args], check=True, capture_output=True, timeout=30)


@pytest.mark.slow
def test_a_job_over_its_memory_is_killed_and_its_log_says_so(slurm_cluster, tmp_path):
    grow = "x = b'x' * (400 * 1024 * 1024); import time; time.sleep(120)"
    job_id = slurm.submit(
        slurm.script(["python3", "-c", grow], workdir=tmp_path),
        _options(tmp_path, memory="100M"),
    )
    # Without cgroups Slurm calls it FAILED (signal 9); slurmstepd says why.
    assert _final(job_id).state == "FAILED"
    _both_sources_say(job_id, "FAILED")
    assert slurm.status([job_id])[job_id].exit_code == "0:9"
    log = tmp_path / f"job-{job_id}.log"
    assert "exceeded memory limit" in log.read_text()
    assert slurm.killed_for_memory(log)


@pytest.mark.slow
def test_a_job_on_a_node_that_fails_is_node_fail(
    slurm_cluster, node_restored, tmp_path
):
    job_id = slurm.submit("#!/bin/bash\nsleep 300\n", _options(tmp_path))
    _wait(lambda: slurm.status([job_id])[job_id].state == "RUNNING", 60, "it to run")
    _scontrol("update", f"NodeName={node_restored}", "State=DOWN", "Reason=test")
    job = _final(job_id)
    assert job.state == "NODE_FAIL"  # not requeued: sbatch --no-requeue
    _both_sources_say(job_id, "NODE_FAIL")


@pytest.mark.slow
def test_a_job_pushed_off_by_a_higher_tier_is_preempted(slurm_cluster, tmp_path):
    low = slurm.submit("#!/bin/bash\nsleep 300\n", _options(tmp_path, cpus=2))
    _wait(lambda: slurm.status([low])[low].state == "RUNNING", 60, "it to run")
    high = slurm.submit(
        "#!/bin/bash\nsleep 5\n", _options(tmp_path, cpus=2, partition="urgent")
    )
    assert _final(low).state == "PREEMPTED"
    assert _final(high).state == "COMPLETED"
    _both_sources_say(low, "PREEMPTED")


def test_an_unknown_job_is_absent_from_the_answer(slurm_cluster):
    assert slurm.status(["987654321"]) == {}
    assert slurm.status([]) == {}


def test_cancel_stops_a_pending_or_running_job(slurm_cluster, tmp_path):
    job_id = slurm.submit("#!/bin/bash\nsleep 300\n", _options(tmp_path))
    slurm.cancel(job_id)
    job = _wait(
        lambda: (s := slurm.status([job_id])[job_id]).final and s, 60, "the cancel"
    )
    assert job.state == "CANCELLED"


def test_ping_partitions_nodes_and_the_queue(slurm_cluster, tmp_path):
    assert slurm.ping().up
    assert " is UP" in slurm.ping().text
    debug, urgent = sorted(slurm.partitions(), key=lambda p: p.name)
    assert (debug.name, debug.default, debug.available) == ("debug", True, "up")
    assert (urgent.name, urgent.default) == ("urgent", False)
    (node,) = slurm.nodes()
    assert (node.name, node.cpus, node.memory_mb) == ("localhost", 2, 8000)
    job_id = slurm.submit("#!/bin/bash\nsleep 300\n", _options(tmp_path))
    queued = {job.job_id: job for job in slurm.queue()}
    assert queued[job_id].name == f"{job_prefix()}test"
    slurm.cancel(job_id)
    config = slurm.cluster_config()
    assert config.accounting is True
    assert config.jobcomp_log.endswith("jobcomp.txt")
    assert config.min_job_age == 10


@pytest.fixture
def controller_down(monkeypatch, tmp_path):
    conf = Path(os.environ["SLURM_CONF"]).read_text()
    down = tmp_path / "slurm.conf"
    down.write_text(conf.replace("SlurmctldPort=16817", "SlurmctldPort=16899"))
    monkeypatch.setenv("SLURM_CONF", str(down))


@pytest.mark.slow
def test_with_the_controller_down_every_call_says_so(
    slurm_cluster, controller_down, tmp_path
):
    with pytest.raises(SlurmError) as caught:
        slurm.submit("#!/bin/bash\ntrue\n", _options(tmp_path))
    assert str(caught.value) == (
        "sbatch failed: Batch job submission failed: Unable to contact slurm "
        "controller (connect failure)"
    )
    ping = slurm.ping()
    assert not ping.up and "DOWN" in ping.text
    with pytest.raises(SlurmError, match=r"^squeue failed: "):
        slurm.status(["1"])


def test_a_missing_command_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no Slurm client here
    with pytest.raises(SlurmError) as caught:
        slurm.submit("#!/bin/bash\n", JobOptions())
    assert str(caught.value) == (
        "the Slurm command sbatch is not installed on this machine "
        "(install slurm-client)"
    )
    assert slurm.ping() == slurm.Ping(
        False,
        "the Slurm command scontrol is not installed on this machine "
        "(install slurm-client)",
    )


def test_a_command_that_hangs_times_out(monkeypatch, tmp_path):
    fake = tmp_path / "sbatch"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(SlurmError) as caught:
        slurm.submit("#!/bin/bash\n", JobOptions(), timeout=0.5)
    assert str(caught.value) == (
        "sbatch did not answer within 0 s: is the Slurm controller up?"
    )


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (JobOptions(extra=("--comment=a;b",)), "extra sbatch option '--comment=a;b'"),
        (JobOptions(extra=("--wrap=$(id)",)), "extra sbatch option '--wrap=$(id)'"),
        (JobOptions(extra=("exclusive",)), "extra sbatch option 'exclusive'"),
        (JobOptions(partition="a b"), "partition 'a b' may hold only"),
        (JobOptions(account="x;y"), "account 'x;y' may hold only"),
        (JobOptions(memory="2 GB"), "memory '2 GB' is not like 512M or 2G"),
        (JobOptions(cpus=0), "cpus must be at least 1, not 0"),
        (JobOptions(time_minutes=-1), "time limit must not be negative"),
    ],
)
def test_it_refuses_options_sbatch_would_misread(options, problem):
    with pytest.raises(SlurmError) as caught:
        options.arguments()
    assert str(caught.value).startswith(problem)


def test_options_become_sbatch_arguments():
    options = JobOptions(
        name="mlf-dispatch-3",
        partition="gpu",
        account="ml",
        qos="high",
        cpus=4,
        memory="2G",
        time_minutes=90,
        output="/shared/logs/run-7.log",
        workdir="/srv/mlframework",
        extra=("--exclusive", "--constraint=ssd"),
    )
    assert options.arguments() == [
        "--job-name=mlf-dispatch-3",
        "--cpus-per-task=4",
        "--no-requeue",
        "--partition=gpu",
        "--account=ml",
        "--qos=high",
        "--mem=2G",
        "--output=/shared/logs/run-7.log",
        "--chdir=/srv/mlframework",
        "--time=90",
        "--exclusive",
        "--constraint=ssd",
    ]
    assert JobOptions().arguments() == [
        "--job-name=mlframework",
        "--cpus-per-task=1",
        "--no-requeue",
    ]


def test_the_script_quotes_what_it_runs(tmp_path):
    text = slurm.script(
        ["/opt/venv/bin/python", "manage.py", "dispatch", "execute", "7"],
        workdir="/srv/my platform",
        env={"MLFRAMEWORK_CONFIG": "/etc/mlf/config's.yaml"},
    )
    assert text == (
        "#!/bin/bash\nset -e\ncd '/srv/my platform'\n"
        "export MLFRAMEWORK_CONFIG='/etc/mlf/config'\"'\"'s.yaml'\n"
        "exec /opt/venv/bin/python manage.py dispatch execute 7\n"
    )
    with pytest.raises(SlurmError, match="is not an environment variable name"):
        slurm.script(["true"], workdir=tmp_path, env={"A;B": "x"})


def test_a_memory_kill_is_read_from_slurmstepds_lines(tmp_path):
    log = tmp_path / "job.log"
    log.write_text(
        "reading 344 rows\n"
        "slurmstepd-node7: error: StepId=8.batch exceeded memory limit "
        "(434720768 > 104857600), being killed\n"
        "slurmstepd-node7: error: Exceeded job memory limit\n"
    )
    assert slurm.killed_for_memory(log)
    cgroup = tmp_path / "cgroup.log"
    cgroup.write_text(
        "slurmstepd: error: Detected 1 oom-kill event(s) in StepId=9.batch. "
        "Some of your processes may have been killed by the cgroup "
        "out-of-memory handler.\n"
    )
    assert slurm.killed_for_memory(cgroup)


def test_a_log_without_slurmstepds_word_is_no_memory_kill(tmp_path):
    own = tmp_path / "own.log"
    own.write_text("MemoryError: out of memory while reading the source\n")
    assert not slurm.killed_for_memory(own)  # the program's words, not Slurm's
    assert not slurm.killed_for_memory(tmp_path / "missing.log")
    big = tmp_path / "big.log"
    big.write_text(
        "slurmstepd: error: Exceeded job memory limit\n" + "x" * 100_000 + "\n"
    )
    assert not slurm.killed_for_memory(big, tail_bytes=1024)  # only the end is read
