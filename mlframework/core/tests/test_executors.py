"""mlframework.core.executors: job options from config and overrides, the
final state of a job, and what each state means for a run, in words."""

import pytest

from mlframework.core import executors
from mlframework.lib.slurm import FINAL_STATES, JobState

MEMORY_KILL = (
    "slurmstepd-localhost: error: StepId=8.batch exceeded memory limit "
    "(434720768 > 104857600), being killed\n"
)


def _job(state: str, exit_code: str = "") -> JobState:
    return JobState("41", state, "sacct", exit_code=exit_code)


def test_a_failed_job_whose_log_says_memory_is_out_of_memory(tmp_path):
    log = tmp_path / "dispatch-run-7.log"
    log.write_text("reading\n" + MEMORY_KILL)
    assert executors.final_state(_job("FAILED", "0:9"), log) == "OUT_OF_MEMORY"


def test_other_endings_keep_slurms_word(tmp_path):
    plain = tmp_path / "plain.log"
    plain.write_text("Traceback ...\nValueError: bad row\n")
    killed = tmp_path / "killed.log"
    killed.write_text(MEMORY_KILL)
    assert executors.final_state(_job("FAILED", "1:0"), plain) == "FAILED"
    assert executors.final_state(_job("FAILED"), tmp_path / "none.log") == "FAILED"
    # Only FAILED is reread: Slurm's own word stands for the rest.
    for state in ("TIMEOUT", "CANCELLED", "NODE_FAIL", "COMPLETED", "OUT_OF_MEMORY"):
        assert executors.final_state(_job(state), killed) == state


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("TIMEOUT", "the Slurm job hit its time limit (timeout)"),
        ("OUT_OF_MEMORY", "the Slurm job ran out of memory"),
        ("NODE_FAIL", "the node running the Slurm job failed"),
        ("CANCELLED", "the Slurm job was cancelled"),
        ("PREEMPTED", "the Slurm job was preempted by higher-priority work"),
        ("BOOT_FAIL", "the node for the Slurm job failed to boot"),
        ("DEADLINE", "the Slurm job missed its deadline"),
        ("COMPLETED", "the Slurm job ended without the run finishing"),
        ("LOST", "Slurm has no record of the job any more (lost)"),
        ("REVOKED", "the Slurm job ended (REVOKED)"),
    ],
)
def test_every_ending_is_said_in_words(state, words):
    assert executors.ending(state) == words


def test_a_failure_names_its_exit_code_unless_it_is_zero():
    assert executors.ending("FAILED", "3:0") == "the Slurm job failed (exit code 3:0)"
    assert executors.ending("FAILED", "0:0") == "the Slurm job failed"
    assert executors.ending("FAILED") == "the Slurm job failed"


def test_every_final_state_has_its_own_words_or_names_itself():
    for state in FINAL_STATES:
        words = executors.ending(state)
        assert words and (state in executors.ENDINGS or state in words)


def test_job_options_take_the_overrides_over_the_config(settings, tmp_path):
    config = settings.CONFIG.executors.slurm
    log = tmp_path / "run.log"
    plain = executors.job_options("dispatch-run-3", executors.Resources(), log)
    assert plain.name == f"{executors.job_prefix()}dispatch-run-3"
    assert (plain.cpus, plain.memory, plain.time_minutes) == (
        config.cpus,
        config.memory,
        config.time_limit,
    )
    assert plain.output == str(log)
    chosen = executors.job_options(
        "training-job-9",
        executors.Resources(partition="urgent", cpus=2, memory="3G", time_limit=7),
        log,
    )
    assert (chosen.partition, chosen.cpus, chosen.memory, chosen.time_minutes) == (
        "urgent",
        2,
        "3G",
        7,
    )
    assert "--no-requeue" in chosen.arguments()


def test_the_empty_choice_is_the_configured_executor(settings):
    assert executors.chosen("") == settings.CONFIG.executors.default
    assert executors.chosen("slurm") == "slurm"
    assert executors.uses_slurm("slurm") and not executors.uses_slurm("local")
