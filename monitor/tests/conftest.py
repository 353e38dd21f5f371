"""Loopback-only network fixtures for the monitor tests.

Every socket here is bound to 127.0.0.1 or ::1: the tests never send traffic
anywhere else.
"""

import contextlib
import dataclasses
import socket
import time

import pytest

from monitor.tests.realised_world import (  # noqa: F401 (fixtures)
    _realised_crontab_cleanup,
    actuals_in,
    dispatch_into,
    realised_tables,
    run_dispatch,
)


@pytest.fixture(autouse=True)
def _fresh_healthz_results():
    """/healthz shares its results for a few seconds; no test sees another's."""
    from monitor import services

    services.healthz_checks.clear()
    yield
    services.healthz_checks.clear()


@pytest.fixture
def listening_port():
    """A real listener on 127.0.0.1 (the "up" case)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 nobody listens on (the "down" case)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return port  # closed once the block ends; the kernel refuses connects


@pytest.fixture
def full_backlog_port():
    """A listener whose accept queue is full: new connects get no answer.

    listen(0) admits one pending connection; we fill it and never accept, so
    the kernel drops further SYNs and a connect times out, all on loopback.
    """
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)  # let the handshakes that fit complete
    yield port
    for filler in fillers:
        filler.close()
    server.close()


@pytest.fixture
def ipv6_listening_port():
    if not socket.has_ipv6:
        pytest.skip("this machine has no IPv6")
    server = socket.socket(socket.AF_INET6)
    try:
        server.bind(("::1", 0))
    except OSError:
        server.close()
        pytest.skip("::1 is not configured on this machine")
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


@pytest.fixture
def use_config(settings):
    """Replace parts of settings.CONFIG for one test."""

    def replace(**changes):
        settings.CONFIG = dataclasses.replace(settings.CONFIG, **changes)
        return settings.CONFIG

    return replace


class _Receiver:
    def __init__(self):
        self.received: list = []
        self.status = 200


@pytest.fixture
def webhook():
    """A real HTTP server on 127.0.0.1 that records what is POSTed to it."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    receiver = _Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.received.append(
                {
                    "path": self.path,
                    "headers": dict(self.headers),
                    "json": json.loads(body),
                }
            )
            self.send_response(receiver.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_server():
    """A minimal real SMTP server on 127.0.0.1 keeping every message it gets."""
    import socketserver
    import threading

    receiver = _Receiver()

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line):
            self.wfile.write(line.encode() + b"\r\n")

        def handle(self):
            self.reply("220 test SMTP ready")
            envelope = {"from": "", "to": [], "data": ""}
            while line := self.rfile.readline().decode():
                command = line.strip().upper()
                if command.startswith(("EHLO", "HELO")):
                    self.reply("250 test")
                elif command.startswith("MAIL FROM"):
                    envelope["from"] = line.split(":", 1)[1].strip()
                    self.reply("250 ok")
                elif command.startswith("RCPT TO"):
                    envelope["to"].append(line.split(":", 1)[1].strip())
                    self.reply("250 ok")
                elif command == "DATA":
                    self.reply("354 go on")
                    lines = []
                    while (data := self.rfile.readline().decode()) not in (
                        ".\r\n",
                        ".\n",
                        "",
                    ):
                        lines.append(data)
                    envelope["data"] = "".join(lines)
                    receiver.received.append(dict(envelope))
                    self.reply("250 queued")
                elif command == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("250 ok")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.port = server.server_address[1]
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def make_dispatch(db):
    """Saved dispatches with sensible defaults; crontab lines removed after."""
    import itertools

    from dispatch.models import Dispatch
    from registry.models import RegisteredModel

    model = RegisteredModel.objects.get_or_create(name="penguins")[0]
    names = itertools.count(1)
    made = []

    def make(**fields):
        values = {
            "name": f"nightly-{next(names)}",
            "model": model,
            "source_datasource": "demo",
            "source_query": "SELECT * FROM penguins",
            "sink_datasource": "demo",
            "sink_table": "penguin_scores",
            "cron": "5 * * * *",
            "timezone": "UTC",
            "enabled": False,
            "grace_minutes": 10,
        }
        values.update(fields)
        dispatch = Dispatch.objects.create(**values)
        made.append(dispatch.pk)
        return dispatch

    yield make
    from dispatch import crontab

    for pk in made:
        crontab.remove(pk)


@pytest.fixture
def make_run():
    def make(dispatch, status="succeeded", rows=100, **fields):
        from dispatch.models import DispatchRun

        return DispatchRun.objects.create(
            dispatch=dispatch,
            status=status,
            rows_written=rows,
            rows_read=rows,
            **fields,
        )

    return make
