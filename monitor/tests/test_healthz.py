import dataclasses
import datetime as dt
import json
import socket
import threading

import pytest
import time_machine
from django.urls import reverse

from mlframework.config import DatasourceConfig, HostConfig
from monitor import services

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def replace_config(settings, **changes):
    settings.CONFIG = dataclasses.replace(settings.CONFIG, **changes)


def test_it_answers_json_without_login(client, settings):
    replace_config(settings, hosts=[])
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    names = {(c["kind"], c["name"]) for c in body["checks"]}
    assert {("database", "default"), ("database", "events")} <= names


def test_a_critical_datasource_down_answers_503(client, settings, tmp_path):
    missing = tmp_path / "no-such-dir" / "x.sqlite3"
    broken = DatasourceConfig(
        connection=f"DRIVER={{SQLite3}};Database={missing};NoCreat=1", critical=True
    )
    replace_config(settings, hosts=[], datasources={"broken": broken})
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    [check] = [c for c in response.json()["checks"] if c["name"] == "broken"]
    assert check["status"] == "down"
    assert "error" not in check  # anonymous callers get no error texts


def test_logged_in_users_see_the_errors(viewer_client, settings, tmp_path):
    missing = tmp_path / "no-such-dir" / "x.sqlite3"
    broken = DatasourceConfig(
        connection=f"DRIVER={{SQLite3}};Database={missing};NoCreat=1", critical=True
    )
    replace_config(settings, hosts=[], datasources={"broken": broken})
    response = viewer_client.get(reverse("healthz"))
    assert response.status_code == 503
    [check] = [c for c in response.json()["checks"] if c["name"] == "broken"]
    assert check["status"] == "down" and check["error"]


def test_a_non_critical_host_down_keeps_200(client, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends
    host = HostConfig(name="gone", host="127.0.0.1", port=port, timeout=1)
    replace_config(settings, hosts=[host])
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    [check] = [c for c in response.json()["checks"] if c["name"] == "gone"]
    assert check["status"] == "down"


def test_it_refuses_post(client):
    assert client.post(reverse("healthz")).status_code == 405


def test_it_checks_ipv6_hosts_and_never_shows_addresses(client, settings):
    import contextlib

    with contextlib.ExitStack() as stack:
        server = stack.enter_context(socket.socket(socket.AF_INET6))
        try:
            server.bind(("::1", 0))
        except OSError:
            pytest.skip("::1 is not configured on this machine")
        server.listen(4)
        port = server.getsockname()[1]
        host = HostConfig(name="v6", host="::1", port=port, timeout=2)
        replace_config(settings, hosts=[host])
        response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    [check] = [c for c in response.json()["checks"] if c["name"] == "v6"]
    assert check == {
        "kind": "host",
        "name": "v6",
        "status": "up",
        "critical": False,
        "ms": check["ms"],
    }
    assert str(port) not in response.content.decode()


# --- Shared results: anonymous callers never make the server probe per call --


class CountingListener:
    """A real loopback listener counting the TCP connects a host probe makes."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.server.setblocking(False)
        self.port = self.server.getsockname()[1]
        self.connects = 0

    def count(self) -> int:
        while True:
            try:
                connection, _ = self.server.accept()
            except BlockingIOError:
                return self.connects
            connection.close()
            self.connects += 1

    def close(self):
        self.server.close()


@pytest.fixture
def counting_host(settings):
    listener = CountingListener()
    host = HostConfig(name="counted", host="127.0.0.1", port=listener.port, timeout=2)
    replace_config(settings, hosts=[host])
    yield listener
    listener.close()


def test_concurrent_calls_run_the_probes_once(counting_host):
    from django.test import Client

    answers = []

    def call():
        answers.append(Client().get(reverse("healthz")))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [a.status_code for a in answers] == [200] * 8
    assert counting_host.count() == 1
    assert len({a.json()["checked_at"] for a in answers}) == 1


NOON = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def test_old_results_are_answered_then_refreshed_in_the_background(
    client, counting_host
):
    with time_machine.travel(NOON, tick=False):
        first = client.get(reverse("healthz")).json()
        assert first["age_seconds"] == 0 and counting_host.count() == 1
        first_at = first["checked_at"]
    with time_machine.travel(NOON + dt.timedelta(seconds=9), tick=False):
        again = client.get(reverse("healthz")).json()
        assert (again["checked_at"], again["age_seconds"]) == (first_at, 9)
        assert counting_host.count() == 1
    with time_machine.travel(NOON + dt.timedelta(seconds=30), tick=False):
        stale = client.get(reverse("healthz")).json()
        assert (stale["checked_at"], stale["age_seconds"]) == (first_at, 30)
        services.healthz_checks.refresher.join(30)
        assert counting_host.count() == 2
        fresh = client.get(reverse("healthz")).json()
        assert fresh["age_seconds"] == 0
        assert fresh["checked_at"] == "2026-05-01T12:00:30+00:00"
    assert counting_host.count() == 2


def test_the_body_has_states_and_ages_never_addresses(client, counting_host):
    body = client.get(reverse("healthz")).json()
    assert set(body) == {"status", "checks", "checked_at", "age_seconds", "schedules"}
    [check] = [c for c in body["checks"] if c["name"] == "counted"]
    assert set(check) == {"kind", "name", "status", "critical", "ms"}
    text = json.dumps(body)
    assert "127.0.0.1" not in text and str(counting_host.port) not in text


def test_a_slow_refresh_never_holds_a_caller():
    release, calls = threading.Event(), []

    def probes_then_hang():
        calls.append(1)
        if len(calls) > 1:
            release.wait(30)
        return []

    shared = services.SharedChecks(probes_then_hang, ttl=10)
    with time_machine.travel(0, tick=False) as traveller:
        first = shared.get()
        traveller.shift(60)
        answered = []
        caller = threading.Thread(target=lambda: answered.append(shared.get()))
        caller.start()
        caller.join(10)
        assert not caller.is_alive() and answered == [first]  # old, not waiting
        assert shared.get() is first  # the refresh still runs: nobody starts another
        release.set()
        shared.refresher.join(10)
        assert len(calls) == 2 and shared.get() is not first


def test_first_callers_wait_for_the_one_first_probe():
    started, release, calls = threading.Event(), threading.Event(), []

    def slow_probes():
        calls.append(1)
        started.set()
        release.wait(30)
        return []

    shared = services.SharedChecks(slow_probes, ttl=10)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(shared.get()))]
    threads[0].start()
    started.wait(10)
    threads += [
        threading.Thread(target=lambda: answers.append(shared.get())) for _ in range(5)
    ]
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1 and len(answers) == 6 and len({id(a) for a in answers}) == 1


def test_results_under_another_configuration_are_not_answered(client, settings):
    replace_config(settings, hosts=[])
    before = client.get(reverse("healthz")).json()
    host = HostConfig(name="new", host="127.0.0.1", port=1, timeout=1)
    replace_config(settings, hosts=[host])
    after = client.get(reverse("healthz")).json()
    assert "new" not in {c["name"] for c in before["checks"]}
    assert "new" in {c["name"] for c in after["checks"]}
