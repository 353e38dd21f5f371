"""A schedule policy through the real cron path: its crontab line (only ids),
the real cron daemon starting scripts/retrain.py in its own process, and the
real task worker taking the run through snapshot, training and comparison;
and the line's life with the policy (sync, disable, delete)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings as django_settings
from django.utils import timezone

from conftest import require_service
from dispatch.tests.test_processes import _cron_running, _wait
from mlframework.lib import crontab as cron_adapter
from registry import retrain_cron
from registry.models import RetrainPolicy, RetrainRun

Trigger = RetrainPolicy.Trigger


@pytest.fixture
def lines():
    """Whatever the test installs, removed after."""
    made = []
    yield made
    for pk in made:
        retrain_cron.remove(pk)


def _schedule(make_policy, lines, **fields):
    policy = make_policy(trigger=Trigger.SCHEDULE, cron="0 3 * * *", **fields)
    lines.append(policy.pk)
    return policy


@pytest.mark.django_db(databases=["default", "events"])
def test_a_line_carries_only_the_policy_id(make_policy, lines):
    policy = _schedule(make_policy, lines)
    assert retrain_cron.apply(policy) is True
    line = retrain_cron.managed_entries()[policy.pk]
    assert line.startswith("0 3 * * * ")
    assert f"scripts/retrain.py {policy.pk} " in line
    assert line.endswith(f"# {cron_adapter.tag()}:retrain:{policy.pk}")
    assert "PWD=" not in line and "password" not in line.lower()
    assert retrain_cron.apply(policy) is False  # already right


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"])
def test_disabling_or_changing_the_trigger_removes_the_line(make_policy, lines):
    policy = _schedule(make_policy, lines)
    retrain_cron.apply(policy)
    policy.enabled = False
    assert retrain_cron.apply(policy) is True
    assert policy.pk not in retrain_cron.managed_entries()
    policy.enabled, policy.trigger = True, Trigger.DRIFT
    retrain_cron.apply(policy)
    assert policy.pk not in retrain_cron.managed_entries()


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"])
def test_sync_adds_missing_lines_and_removes_stale_ones(make_policy, lines):
    policy = _schedule(make_policy, lines)
    other = make_policy(trigger=Trigger.MANUAL)
    lines.append(other.pk)
    with cron_adapter.edit() as cron:
        cron_adapter.add(cron, "0 4 * * *", "true", retrain_cron.mark(other.pk))
    result = retrain_cron.sync()
    assert result.added == [policy.pk] and result.removed == [other.pk]
    assert set(retrain_cron.managed_entries()) >= {policy.pk}
    assert other.pk not in retrain_cron.managed_entries()
    assert str(retrain_cron.sync()) == "0 added, 0 removed"


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"])
def test_a_schedule_in_another_timezone_is_shifted_for_the_daemon(make_policy, lines):
    policy = _schedule(make_policy, lines, timezone="America/Sao_Paulo")
    retrain_cron.apply(policy)
    assert retrain_cron.managed_entries()[policy.pk].startswith("0 6 * * * ")


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"])
def test_the_command_fires_a_policy_as_cron_does(make_policy, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    policy = make_policy(trigger=Trigger.SCHEDULE, cron="* * * * *")
    call_command("retrain", "run", str(policy.pk))
    run = RetrainRun.objects.get()
    assert run.trigger == Trigger.SCHEDULE and run.detail == "cron"
    assert run.scheduled_for.second == 0
    assert f"retrain run {run.pk}" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no retrain policy 999"):
        call_command("retrain", "run", "999")


def test_the_script_refuses_a_bad_invocation_without_django():
    script = Path(django_settings.BASE_DIR) / "scripts" / "retrain.py"
    done = subprocess.run(
        [sys.executable, str(script), "x"], capture_output=True, text=True
    )
    assert done.returncode != 0 and "usage" in done.stderr


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"], transaction=True)
def test_the_real_cron_daemon_retrains_on_schedule(
    make_policy, query_champion, process_env, settings, tmp_path, lines
):
    require_service(_cron_running(), "the cron daemon")
    # Cron starts jobs with an empty environment: the job's config has the
    # values resolved (private to this test).
    raw = Path(process_env["MLFRAMEWORK_CONFIG"]).read_text()
    resolved = re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}",
        lambda m: os.environ.get(m.group(1), m.group(2) or ""),
        raw,
    )
    file = tmp_path / "cron.yaml"
    file.touch(mode=0o600)
    file.write_text(yaml.safe_dump(yaml.safe_load(resolved)))
    settings.CONFIG_FILE = file
    policy = make_policy(
        trigger=Trigger.SCHEDULE, cron="* * * * *", min_interval_minutes=60
    )
    lines.append(policy.pk)
    try:
        retrain_cron.apply(policy)
        run = _wait(
            lambda: RetrainRun.objects.filter(policy=policy).first(),
            150,
            "cron to fire the policy",
        )
    finally:
        retrain_cron.remove(policy.pk)
    assert policy.pk not in retrain_cron.managed_entries()
    assert run.trigger == Trigger.SCHEDULE and run.state == RetrainRun.State.QUEUED
    worker = subprocess.run(
        [
            sys.executable,
            str(Path(django_settings.BASE_DIR) / "manage.py"),
            "db_worker",
            "--queue-name",
            "training",
            "--batch",
            "--no-startup-delay",
            "--interval",
            "0.2",
        ],
        env=process_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    run.refresh_from_db()
    assert run.state == RetrainRun.State.DONE, run.error or worker.stderr[-2000:]
    day = timezone.localtime(run.scheduled_for).date().isoformat()
    assert run.dataset.params == {"as_of": day}
    assert run.job.status == "succeeded"
    assert run.version.number == 2 and run.challenge_id
    # A second minute before the line went: skipped, never a second retrain.
    others = RetrainRun.objects.filter(policy=policy).exclude(pk=run.pk)
    assert all(r.state == RetrainRun.State.SKIPPED for r in others)
