"""The real gunicorn with two workers: /metrics adds up both workers' counts,
whichever answers, and a new server starts from zero."""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from mlframework.processes.supervisor import web_program
from mlframework.usage.models import ApiRequest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
    pytest.mark.slow,
]
COUNT = "mlframework_http_request_duration_seconds_count"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, **headers: str) -> tuple[int, str] | None:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return None


def _healthz_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == COUNT and sample.labels == {
                "endpoint": "healthz",
                "method": "GET",
                "status": "2xx",
            }:
                return sample.value
    return 0.0


@pytest.fixture
def gunicorn(process_env, tmp_path):
    folder = Path(process_env["PROMETHEUS_MULTIPROC_DIR"])  # not this process's
    stale = folder / "counter_424242.db"
    stale.write_bytes(b"left by an earlier server")
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    process = subprocess.Popen(
        web_program(f"127.0.0.1:{port}", workers=2).argv,
        cwd=ROOT,
        env=process_env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while _get(f"{base}/metrics") is None:
        if time.monotonic() > deadline or process.poll() is not None:
            pytest.fail(f"gunicorn did not answer: {log.read_text()[-2000:]}")
        time.sleep(0.5)
    yield base, folder, stale
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)


def test_every_scrape_adds_up_both_workers(gunicorn):
    base, folder, stale = gunicorn
    assert not stale.exists()  # emptied when the server started
    for _ in range(20):
        assert _get(f"{base}/healthz")[0] in (200, 503)
    scrapes = [_get(f"{base}/metrics") for _ in range(10)]
    assert {status for status, _ in scrapes} == {200}
    # Whichever worker answered, it counted the other's requests too.
    assert {_healthz_count(text) for _, text in scrapes} == {20.0}
    assert list(folder.glob("histogram_*.db"))  # the workers' own files


def test_an_api_request_is_recorded_once_its_answer_is_out(gunicorn, viewer):
    base, _, _ = gunicorn
    token = Token.objects.create(user=viewer).key
    for _ in range(3):
        status, _ = _get(f"{base}/api/registry/models/", Authorization=f"Token {token}")
        assert status == 200
    deadline = time.monotonic() + 10
    while ApiRequest.objects.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    rows = list(ApiRequest.objects.all())
    assert len(rows) == 3
    assert {(r.username, r.endpoint, r.status) for r in rows} == {
        ("vera", "registry-api:models", 200)
    }
