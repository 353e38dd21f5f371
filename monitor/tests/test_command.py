"""`manage.py monitor` and scripts/monitor.py: the summary for shells and cron."""

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core import mail
from django.core.management import CommandError, call_command

from mlframework.config import AlertsConfig, HostConfig
from monitor.models import AlertState

pytestmark = pytest.mark.django_db(databases=["default", "events"])
ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    out = StringIO()
    call_command("monitor", *args, stdout=out)
    return out.getvalue()


def test_all_well_prints_the_summary_and_succeeds(use_config, listening_port):
    use_config(hosts=[HostConfig(name="api", host="127.0.0.1", port=listening_port)])
    output = run("--no-alerts")
    lines = output.splitlines()
    assert lines[0].startswith("mlframework monitor at ")
    assert any(line.startswith("ok   database   default") for line in lines)
    assert any(line.startswith("ok   host       api") for line in lines)
    assert lines[-1] == "OK"


def test_a_critical_host_down_fails_with_the_reason(use_config, closed_port):
    use_config(
        hosts=[
            HostConfig(
                name="api", host="127.0.0.1", port=closed_port, timeout=1, critical=True
            )
        ]
    )
    with pytest.raises(CommandError) as caught:
        run("--no-alerts")
    assert "host api down: connection refused" in str(caught.value)


def test_a_non_critical_host_down_only_warns(use_config, closed_port):
    use_config(hosts=[HostConfig(name="api", host="127.0.0.1", port=closed_port)])
    output = run("--no-alerts")
    assert any(line.startswith("warn host       api") for line in output.splitlines())
    assert output.splitlines()[-1] == "OK"


def test_a_late_dispatch_fails_the_run(use_config, make_dispatch):
    import datetime as dt

    import time_machine

    use_config(hosts=[])
    with time_machine.travel(dt.datetime(2026, 3, 2, 8, 6, tzinfo=dt.UTC), tick=False):
        dispatch = make_dispatch(enabled=True)
    later = dt.datetime(2026, 3, 2, 9, 20, tzinfo=dt.UTC)
    with time_machine.travel(later), pytest.raises(CommandError) as caught:
        run("--no-alerts")
    assert f"dispatch {dispatch.name}: crontab line missing" in str(caught.value)
    assert "late: due at 2026-03-02 09:05 UTC" in str(caught.value)


def test_it_sends_the_alerts_that_are_due(use_config, closed_port):
    use_config(
        hosts=[HostConfig(name="api", host="127.0.0.1", port=closed_port, timeout=1)],
        alerts=AlertsConfig(email_to=["ops@example.com"], down_grace_minutes=0),
    )
    output = run()
    assert "alert fired: [mlframework] ALERT Host down: host api" in output
    assert len(mail.outbox) == 1
    assert AlertState.objects.get(key="host:api").status == "firing"
    run()
    assert len(mail.outbox) == 1  # not repeated
    assert run("--no-alerts")  # only looks
    assert len(mail.outbox) == 1


def test_json_prints_the_healthz_body(use_config):
    use_config(hosts=[])
    body = json.loads(run("--no-alerts", "--json"))
    assert body["status"] == "ok"
    assert {c["name"] for c in body["checks"]} >= {"default", "events", "demo"}


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"], transaction=True)
def test_the_script_exits_non_zero_on_failure(process_env, closed_port, tmp_path):
    # The script runs in its own process on this test's databases and config.
    config_file = Path(process_env["MLFRAMEWORK_CONFIG"])
    raw = yaml.safe_load(config_file.read_text())
    raw["hosts"] = []
    config_file.write_text(yaml.safe_dump(raw))
    ok = subprocess.run(
        [sys.executable, str(ROOT / "scripts/monitor.py"), "--no-alerts"],
        env=process_env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1] == "OK"

    raw["hosts"] = [
        {"name": "api", "host": "127.0.0.1", "port": closed_port, "critical": True}
    ]
    config_file.write_text(yaml.safe_dump(raw))
    failing = subprocess.run(
        [sys.executable, str(ROOT / "scripts/monitor.py"), "--no-alerts"],
        env=process_env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert failing.returncode == 1
    assert "FAIL host       api" in failing.stdout
    assert "host api down: connection refused" in failing.stderr


def test_cron_down_fails_the_run_only_with_enabled_dispatches(make_dispatch):
    from monitor import probes, schedules, services

    cron_down = probes.Result(
        "service", "cron", "cron daemon", "down", 0.0, "not running"
    )
    dispatch = make_dispatch(enabled=False)
    idle = services.Snapshot(None, [cron_down], schedules.collect())
    assert idle.ok  # nothing would run anyway
    dispatch.enabled = True
    dispatch.save()
    busy = services.Snapshot(None, [cron_down], schedules.collect())
    assert "cron: not running" in busy.problems
    assert busy.healthy  # /healthz stays 200: the web itself is fine


def _crontab_text():
    result = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else ""


def test_install_cron_writes_one_tagged_line_the_dispatch_sync_keeps(
    make_dispatch, operator
):
    from dispatch import crontab
    from dispatch import services as dispatch_services
    from monitor import services

    try:
        assert "installed: every 5 min" in run("--install-cron")
        assert "already installed" in run("--install-cron")
        line = services.monitor_cron_installed()
        assert line == services.monitor_cron_line(5)
        assert line.startswith("*/5 * * * * cd /")
        assert "scripts/monitor.py >> " in line
        assert "apppass" not in line
        assert _crontab_text().count(f"{crontab.tag()}:monitor\n") == 1
        # Dispatch changes and a full sync leave the monitor's line alone.
        dispatch_services.enable(make_dispatch(), operator)
        crontab.sync()
        assert services.monitor_cron_installed() == line
        run("--install-cron", "--every", "2")
        assert services.monitor_cron_installed().startswith("*/2 * * * * ")
        with pytest.raises(CommandError, match="--every must be between 1 and 59"):
            run("--install-cron", "--every", "60")
    finally:
        assert "removed" in run("--remove-cron")
    assert services.monitor_cron_installed() is None
    assert f"{crontab.tag()}:monitor" not in _crontab_text()


def test_conditions_no_longer_watched_are_closed(use_config):
    use_config(hosts=[])
    AlertState.objects.create(
        key="host:retired", rule="host_down", subject="host retired", status="firing"
    )
    run()
    state = AlertState.objects.get(key="host:retired")
    assert state.status == "ok" and state.detail == "no longer watched"
    assert len(mail.outbox) == 0  # closing silently: nobody to tell


def test_install_cron_creates_the_monitors_log_private(settings):
    from dispatch import crontab

    log = crontab.log_dir() / "monitor.log"
    log.unlink(missing_ok=True)
    try:
        run("--install-cron")
        assert log.stat().st_mode & 0o777 == 0o600
    finally:
        run("--remove-cron")
