"""Host and database probes against real sockets and servers (loopback only)."""

import socket
import time

import pytest

from mlframework.config import DatasourceConfig, HostConfig
from monitor import probes

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def test_a_listening_port_is_up_with_its_latency(listening_port):
    result = probes.probe_host("web", "127.0.0.1", listening_port, timeout=2)
    assert result.status == "up" and result.ok
    assert result.error == ""
    assert 0 < result.seconds < 2
    assert result.target == f"127.0.0.1:{listening_port}"
    assert result.address == "127.0.0.1"


def test_a_closed_port_is_down_with_the_error_in_words(closed_port):
    result = probes.probe_host("gone", "127.0.0.1", closed_port, timeout=2)
    assert result.status == "down" and not result.ok
    assert result.error == f"connection refused: nothing listens on port {closed_port}"
    assert result.seconds < 1


def test_a_full_accept_queue_times_out_after_the_timeout(full_backlog_port):
    started = time.perf_counter()
    result = probes.probe_host("stuck", "127.0.0.1", full_backlog_port, timeout=0.5)
    elapsed = time.perf_counter() - started
    assert result.status == "timeout"
    assert result.error == "no answer within 0.5 s"
    assert 0.4 < elapsed < 2


def test_an_ipv6_literal_is_probed(ipv6_listening_port):
    result = probes.probe_host("v6", "::1", ipv6_listening_port, timeout=2)
    assert result.status == "up"
    assert result.target == f"[::1]:{ipv6_listening_port}"
    bracketed = probes.probe_host("v6", "[::1]", ipv6_listening_port, timeout=2)
    assert bracketed.status == "up" and bracketed.address == "::1"


def test_an_ipv6_closed_port_is_down():
    with socket.socket(socket.AF_INET6) as sock:
        try:
            sock.bind(("::1", 0))
        except OSError:
            pytest.skip("::1 is not configured on this machine")
        port = sock.getsockname()[1]
    result = probes.probe_host("v6", "::1", port, timeout=2)
    assert result.status == "down"
    assert "connection refused" in result.error


def test_a_host_name_is_resolved_and_probed(listening_port):
    # "localhost" resolves from /etc/hosts, no DNS query leaves the machine.
    result = probes.probe_host("named", "localhost", listening_port, timeout=2)
    assert result.status == "up"
    assert result.address in ("127.0.0.1", "::1")
    assert result.target == f"localhost:{listening_port}"


def test_a_malformed_name_is_down_without_any_lookup():
    # An empty label is refused before any resolver is asked, so no query
    # leaves the machine (tests talk to loopback only).
    result = probes.probe_host("typo", "db..example", 5432, timeout=2)
    assert result.status == "down"
    assert result.error == "not a valid host name: 'db..example'"


def test_ten_unreachable_hosts_cost_about_one_timeout(full_backlog_port, use_config):
    timeout = 0.6
    use_config(
        hosts=[
            HostConfig(
                name=f"h{i}", host="127.0.0.1", port=full_backlog_port, timeout=timeout
            )
            for i in range(10)
        ],
        datasources={},
    )
    started = time.perf_counter()
    results = probes.run_all()
    elapsed = time.perf_counter() - started
    hosts = [r for r in results if r.kind == "host"]
    assert [r.status for r in hosts] == ["timeout"] * 10
    # One after another they would take 10 x 0.6 = 6 s.
    assert elapsed < 3 * timeout


def test_the_platform_databases_are_up():
    default = probes.probe_database("default")
    events = probes.probe_database("events")
    assert default.ok and default.critical
    assert events.ok and not events.critical
    assert events.target.startswith("mysql 127.0.0.1")


def test_every_datasource_runs_its_configured_query(use_config, tmp_path):
    database = tmp_path / "probe.sqlite3"
    good = DatasourceConfig(
        connection=f"DRIVER={{SQLite3}};Database={database}",
        test_query="SELECT 42",
    )
    bad = DatasourceConfig(
        connection=f"DRIVER={{SQLite3}};Database={database}",
        test_query="SELECT * FROM no_such_table",
        critical=False,
    )
    use_config(datasources={"good": good, "bad": bad}, hosts=[])
    results = {r.name: r for r in probes.run_all() if r.kind == "datasource"}
    assert results["good"].ok and results["good"].target == "SQLite3"
    assert results["bad"].status == "down"
    assert "no_such_table" in results["bad"].error


def test_a_datasource_error_never_shows_its_password(use_config):
    source = DatasourceConfig(
        connection="DRIVER={MariaDB Unicode};SERVER=127.0.0.1;PORT=1;"
        "UID=app;PWD=Very-Secret-42",
        timeout=2,
    )
    use_config(datasources={"secret": source}, hosts=[])
    [result] = [r for r in probes.run_all() if r.name == "secret"]
    assert result.status == "down" and result.error
    assert "Very-Secret-42" not in result.error


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"], transaction=True)
def test_mariadb_stopped_is_down_and_started_again_is_up(mariadb):
    assert probes.probe_database("events").ok
    assert probes.probe_datasource("mariadb").ok
    mariadb.stop()
    try:
        events = probes.probe_database("events")
        source = probes.probe_datasource("mariadb")
        assert events.status == "down" and events.error
        assert source.status == "down" and source.error
        assert "apppass" not in events.error + source.error
        summary = probes.summary([events, source])
        assert summary["status"] == "ok"  # neither is critical in the test config
    finally:
        mariadb.start()
    assert probes.probe_database("events").ok
    assert probes.probe_datasource("mariadb").ok


def test_the_running_cron_daemon_is_found():
    import shutil

    from conftest import require_service

    result = probes.probe_cron_daemon()
    require_service(result.ok or shutil.which("cron") is None, "the cron daemon")
    assert result.kind == "service" and result.name == "cron"
    assert result.target.startswith("pid ")
    assert "cron" in {r.name for r in probes.run_all() if r.kind == "service"}


def test_no_cron_daemon_is_down_in_words(tmp_path):
    # A /proc-shaped folder holding only other processes.
    for pid, name in ((1, "init"), (42, "gunicorn"), (77, "crontab")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(name + "\n")
    (tmp_path / "self").mkdir()
    result = probes.probe_cron_daemon(tmp_path)
    assert result.status == "down"
    assert result.error == (
        "the cron daemon is not running: scheduled dispatches will not start"
    )
    (tmp_path / "99").mkdir()
    (tmp_path / "99" / "comm").write_text("crond\n")
    assert probes.probe_cron_daemon(tmp_path).target == "pid 99"
