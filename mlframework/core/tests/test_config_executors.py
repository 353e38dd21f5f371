"""executors: in config.yaml, validated like every other key."""

from pathlib import Path

import pytest

from mlframework.config import load_config
from mlframework.core.tests.test_config import MINIMAL, error_for, with_, write

ROOT = Path(__file__).resolve().parents[3]


def test_the_shipped_config_runs_locally_by_default():
    config = load_config(ROOT / "config.yaml", environ={})
    assert config.executors.default == "local"
    assert config.executors.slurm.cpus == 1
    assert config.executors.slurm.memory == "1G"
    assert config.executors.slurm.time_limit == 60
    assert config.executors.slurm.extra_options == []


def test_a_config_without_executors_gets_the_embedded_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.executors.default == "local"
    assert config.executors.slurm.accounting is True
    assert config.executors.slurm.log_dir == "var/slurm"


def test_it_reads_every_slurm_key(tmp_path):
    data = with_(
        MINIMAL,
        "executors",
        {
            "default": "slurm",
            "slurm": {
                "partition": "gpu-a100",
                "account": "ml_team",
                "qos": "normal",
                "cpus": 8,
                "memory": "32G",
                "time_limit": 240,
                "extra_options": ["--exclusive", "--constraint=ssd"],
                "log_dir": "/shared/mlf/logs",
                "accounting": False,
                "command_timeout": 20,
                "conf": "/etc/slurm-ml/slurm.conf",
            },
        },
    )
    slurm = load_config(write(tmp_path, data), environ={}).executors.slurm
    assert (slurm.partition, slurm.account, slurm.qos) == (
        "gpu-a100",
        "ml_team",
        "normal",
    )
    assert (slurm.cpus, slurm.memory, slurm.time_limit) == (8, "32G", 240)
    assert slurm.extra_options == ["--exclusive", "--constraint=ssd"]
    assert slurm.accounting is False
    assert slurm.conf == "/etc/slurm-ml/slurm.conf"


def test_it_rejects_an_unknown_executor(tmp_path):
    message = error_for(tmp_path, with_(MINIMAL, "executors.default", "kubernetes"))
    assert message == (
        "config.yaml: executors.default must be one of local, slurm, not 'kubernetes'"
    )


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("cpus", 0, "executors.slurm.cpus must be at least 1"),
        ("cpus", "many", "executors.slurm.cpus must be a whole number"),
        ("memory", "2 GB", "executors.slurm.memory must be like 512M or 2G"),
        ("memory", "0", "executors.slurm.memory must be like 512M or 2G"),
        ("time_limit", 0, "executors.slurm.time_limit must be at least 1 minute"),
        ("partition", "debug;rm -rf /", "executors.slurm.partition may hold only"),
        ("account", "a b", "executors.slurm.account may hold only"),
        ("qos", "$(id)", "executors.slurm.qos may hold only"),
        ("command_timeout", 0, "executors.slurm.command_timeout must be between"),
        ("log_dir", " ", "executors.slurm.log_dir must not be empty"),
        ("accounting", "yes", "executors.slurm.accounting must be true or false"),
        ("nodes", 3, "executors.slurm.nodes is not a known key"),
        ("conf", "a\nb", "executors.slurm.conf must be a file path on one line"),
        ("conf", ["a"], "executors.slurm.conf must be"),
    ],
)
def test_it_names_the_bad_slurm_key(tmp_path, key, value, problem):
    message = error_for(tmp_path, with_(MINIMAL, f"executors.slurm.{key}", value))
    assert message.startswith(f"config.yaml: {problem}")


@pytest.mark.parametrize(
    "option",
    [
        "--comment=a; rm -rf /",
        "--wrap=`id`",
        "--export=$HOME",
        "--mail-user=a|b",
        "exclusive",
        "--comment=two words",
        "--x=a&&b",
    ],
)
def test_it_refuses_shell_characters_in_extra_options(tmp_path, option):
    data = with_(MINIMAL, "executors.slurm.extra_options", ["--exclusive", option])
    message = error_for(tmp_path, data)
    assert message.startswith(
        "config.yaml: executors.slurm.extra_options[1] must look like --name=value"
    )
    assert repr(option) in message


def test_extra_options_must_be_a_list(tmp_path):
    data = with_(MINIMAL, "executors.slurm.extra_options", "--exclusive")
    assert error_for(tmp_path, data) == (
        "config.yaml: executors.slurm.extra_options must be a list"
    )


@pytest.mark.slow
def test_the_configured_slurm_conf_reaches_every_slurm_client(tmp_path):
    """Cron starts its lines with no environment: the settings export the
    configured slurm.conf (relative to config.yaml's folder) as SLURM_CONF
    for the sbatch, squeue and sacct the process runs."""
    import subprocess
    import sys

    data = with_(MINIMAL, "executors.slurm.conf", "cluster/slurm.conf")
    config = write(tmp_path, data)
    env = {
        "PATH": "/usr/bin:/bin",
        "MLFRAMEWORK_CONFIG": str(config),
        "DJANGO_SETTINGS_MODULE": "mlframework.settings",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; django.setup(); print(os.environ['SLURM_CONF'])",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(config.parent / "cluster" / "slurm.conf")
