import dataclasses
import socket

import pytest
from django.urls import reverse

from mlframework.config import DatasourceConfig, HostConfig

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
