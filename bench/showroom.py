"""Showroom benchmark: one-row predictions in-process vs through a real server.

    .venv/bin/python bench/showroom.py [--requests 300] [--clients 16] [--seconds 30]

In one run, on a throwaway installation under a temp folder (SQLite for the
platform and the event log, nothing shared with var/):
0. uses config.yaml's database settings (SQLite files, WAL) in a temp folder;
1. trains a tiny real AutoGluon model (registry.tests.helpers.train_tiny, penguins)
   in a separate process;
2. baseline: in this process (which only predicts), the persisted
   registry.services.predict of one row, single-threaded like the server;
3. the predict API (token auth, JSON) and the Showroom form POST (session,
   CSRF, htmx partial) through a real gunicorn on 127.0.0.1 whose workers
   preloaded the model (showroom.gunicorn), one keep-alive client each:
   p50 / p95 in ms and the ratio to the baseline (goal: p50 <= 1.3x);
4. N concurrent clients (half API, half Showroom) for S seconds: errors and
   throughput.
Exits 1 if any request failed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-password-not-secret"  # noqa: S105 (throwaway user)
ROW = {
    "island": "Biscoe",
    "bill_length_mm": 47.5,
    "bill_depth_mm": 14.2,
    "flipper_length_mm": 217,
    "body_mass_g": 4900,
    "sex": "female",
    "year": 2008,
}


SERVER_PREDICT_MS: list[float] = []


def write_config(folder: Path) -> Path:
    import yaml

    shipped = yaml.safe_load((ROOT / "config.yaml").read_text())
    config = {
        "paths": {
            key: str(folder / key)
            for key in ("datasets", "models", "spool", "locks", "logs")
        }
        | {"var": str(folder), "static_root": str(folder / "static")},
        "web": {
            "secret_key": "bench-only-secret-key-0123456789abcdefghijklmnop",
            "allowed_hosts": ["127.0.0.1"],
        },
        # The embedded default, as config.yaml ships it, in the temp folder.
        "databases": {
            alias: {
                **shipped["databases"][alias],
                "name": str(folder / Path(shipped["databases"][alias]["name"]).name),
            }
            for alias in ("default", "events")
        },
        "datasources": {
            "demo": {"connection": f"DRIVER={{SQLite3}};Database={folder}/demo.sqlite3"}
        },
        "hosts": [],
        "cron": {"tag": f"mlframework-bench-{os.getpid()}"},
    }
    path = folder / "config.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return p50, p95


def setup_django(config: Path, *, migrate: bool):
    os.environ["MLFRAMEWORK_CONFIG"] = str(config)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlframework.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    if not migrate:
        return
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("migrate", database="events", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    from django.conf import settings

    for key in ("datasets", "models", "spool", "locks", "logs", "static_root"):
        settings.CONFIG.path(getattr(settings.CONFIG.paths, key)).mkdir(
            parents=True, exist_ok=True
        )


def prepare() -> tuple[str, object]:
    """A user with the Showroom permission and a token; the tiny model."""
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    from mlframework.core import demo
    from registry.tests.helpers import train_tiny

    user = User.objects.create_user("bench", password=PASSWORD)
    user.groups.add(Group.objects.get(name="analyst"))
    token = Token.objects.create(user=user).key
    started = time.perf_counter()
    version = train_tiny(demo.read_csv(), "species", "penguins", user=user)
    print(f"trained {version} in {time.perf_counter() - started:.1f} s")
    return token, version


def in_process_calls(version):
    """The baseline (registry predict) and the Showroom's own service."""
    import pandas as pd

    from registry import services as registry
    from showroom import services

    registry.preload(["production"])
    frame = pd.DataFrame([ROW])

    def predict() -> bool:
        registry.predict(version, frame, probabilities=True)
        return True

    def predict_cases() -> bool:
        # Schema checks + predict + the event, without HTTP.
        services.predict_cases(version, [ROW], origin="bench")
        return True

    return predict, predict_cases


class Client:
    """One keep-alive HTTP/1.1 connection, with cookies."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.last_used = 0.0

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if time.monotonic() - self.last_used > 1.0:
            # gunicorn closes a connection idle for 2 s (its keep-alive):
            # start a new one rather than write into a closed socket.
            self.connection.close()
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()
            self.connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=60
            )
            raise
        self.last_used = time.monotonic()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, data

    def login(self) -> None:
        status, page = self.request("GET", "/accounts/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        body = urlencode(
            {
                "username": "bench",
                "password": PASSWORD,
                "csrfmiddlewaretoken": token.group(1).decode(),
            }
        )
        status, _ = self.request(
            "POST",
            "/accounts/login/",
            body,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status == 302 and "sessionid" in self.cookies, status


def api_call(token: str):
    body = json.dumps({"model": "penguins", "version": "production", "row": ROW})
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}

    def call(client: Client) -> bool:
        status, data = client.request("POST", "/api/showroom/predict/", body, headers)
        if status != 200 or b'"prediction"' not in data:
            return False
        # The server's own timing of registry.services.predict, for the split.
        SERVER_PREDICT_MS.append(json.loads(data)["latency_ms"])
        return True

    return call


def showroom_call():
    body = urlencode({"ref": "production", **{k: str(v) for k, v in ROW.items()}})

    def call(client: Client) -> bool:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-CSRFToken": client.cookies.get("csrftoken", ""),
            "HX-Request": "true",
        }
        status, data = client.request(
            "POST", "/showroom/penguins/predict/", body, headers
        )
        return status == 200 and b'data-testid="prediction"' in data

    return call


def timed(call, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        ok = call()
        samples.append((time.perf_counter() - started) * 1000)
        assert ok, "request failed"
    return samples


def interleaved(calls: dict, total: int, rounds: int = 10) -> dict[str, list[float]]:
    """Each way measured in turn, in rounds, so a busy spell on the machine
    weighs on all of them alike rather than on whichever ran then."""
    for call in calls.values():
        timed(call, 20)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            samples[name] += timed(call, max(1, total // rounds))
    return samples


def concurrent(port: int, token: str, clients: int, seconds: float) -> dict:
    calls = {"api": api_call(token), "showroom": showroom_call()}
    results = {kind: {"ok": 0, "errors": 0, "ms": []} for kind in calls}
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def worker(index: int) -> None:
        kind = "api" if index % 2 == 0 else "showroom"
        client = Client(port)
        if kind == "showroom":
            client.login()
        start.wait()
        deadline = time.perf_counter() + seconds
        ok = errors = 0
        samples = []
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                good = calls[kind](client)
            except (http.client.HTTPException, OSError):
                good = False
            samples.append((time.perf_counter() - began) * 1000)
            ok, errors = ok + good, errors + (not good)
        with lock:
            results[kind]["ok"] += ok
            results[kind]["errors"] += errors
            results[kind]["ms"] += samples

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(config: Path, port: int, workers: int, log: Path, *, warm=True):
    """gunicorn as ops/run.sh starts it; warm=False: without the Showroom's
    hooks (no preloading), for the cold first request."""
    env = {**os.environ, "MLFRAMEWORK_CONFIG": str(config)}
    hooks = ["-c", "python:showroom.gunicorn"] if warm else []
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "mlframework.wsgi:application",
            *hooks,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            "4",
            "--timeout",
            "120",
            "--error-logfile",
            str(log),
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not ready(server, port, workers, log, warm):
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"gunicorn did not start:\n{log.read_text()}")
        time.sleep(0.2)
    return server


def ready(server, port: int, workers: int, log: Path, warm: bool) -> bool:
    text = log.read_text() if log.exists() else ""
    if warm:
        return text.count("preloaded") >= workers
    if text.count("Booting worker") < workers:
        return False
    try:
        return Client(port).request("GET", "/static/showroom/showroom.js")[0] == 200
    except OSError:
        return False


def stop_server(server) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def cold_first_requests(config: Path, token: str, folder: Path) -> list[float]:
    """The first requests of a server that did not preload (one worker)."""
    port = free_port()
    server = start_server(config, port, 1, folder / "cold.log", warm=False)
    try:
        client, call = Client(port), api_call(token)
        return timed(lambda: call(client), 3)
    finally:
        stop_server(server)


def line(name: str, samples: list[float], baseline: float | None) -> str:
    p50, p95 = percentiles(samples)
    ratio = f"{p50 / baseline:5.2f}x" if baseline else "  1.00x"
    return f"{name:<46} {p50:8.2f} {p95:8.2f}   {ratio}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # Predictions single-threaded, as in the server (showroom/gunicorn.py), so
    # the baseline and the server do the same work.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.prepare:
        # In its own process: a process that has just trained predicts more
        # slowly, and the baseline must be a process that only predicts.
        setup_django(Path(args.prepare) / "config.yaml", migrate=True)
        token, version = prepare()
        (Path(args.prepare) / "token").write_text(token)
        return 0

    folder = Path(tempfile.mkdtemp(prefix="mlf-bench-showroom-"))
    server = None
    try:
        config = write_config(folder)
        subprocess.run([sys.executable, __file__, "--prepare", str(folder)], check=True)
        token = (folder / "token").read_text()
        setup_django(config, migrate=False)
        from registry import services

        version = services.resolve("penguins", "production")
        predict, predict_cases = in_process_calls(version)
        port = free_port()
        started = time.perf_counter()
        server = start_server(config, port, args.workers, folder / "gunicorn.log")
        print(
            f"gunicorn: {args.workers} workers x 4 threads on 127.0.0.1:{port}, "
            f"up and preloaded in {time.perf_counter() - started:.1f} s"
        )
        api_client, form_client = Client(port), Client(port)
        form_client.login()
        api, form = api_call(token), showroom_call()
        floor_client = Client(port)
        # The first request each worker serves (the model preloaded, not loaded
        # on demand): two fresh connections, as gunicorn spreads them.
        first = [timed(lambda: api(Client(port)), 1)[0] for _ in range(2)]

        def floor() -> bool:
            # A small static file (whitenoise, no database): what HTTP and
            # gunicorn alone cost on this machine.
            status, _ = floor_client.request("GET", "/static/showroom/showroom.js")
            return status == 200

        def django_floor() -> bool:
            # Django's request cycle with no view work: every middleware, the
            # URL resolved, a page that needs login answered with a redirect.
            status, _ = floor_client.request("GET", "/")
            return status == 302

        SERVER_PREDICT_MS.clear()
        samples = interleaved(
            {
                "in-process registry.services.predict": predict,
                "in-process showroom.services.predict_cases": predict_cases,
                "predict API (gunicorn, token, JSON)": lambda: api(api_client),
                "Showroom POST (gunicorn, session, htmx)": lambda: form(form_client),
                "(floor: GET a static file through gunicorn)": floor,
                "(floor: Django's middleware, a 302 to login)": django_floor,
            },
            args.requests,
        )
        names = list(samples)
        baseline = percentiles(samples[names[0]])[0]
        print()
        print(
            f"one row, {args.requests} calls each, interleaved"
            "      p50 ms   p95 ms   p50 ratio"
        )
        for index, name in enumerate(names):
            print(line(name, samples[name], baseline if index else None))
        inside = SERVER_PREDICT_MS[20:]  # after the warm-up calls
        print(line("(registry.services.predict inside the API)", inside, baseline))
        bound = percentiles(inside)[0] + percentiles(samples[names[5]])[0]
        print(
            "the prediction as timed inside the server + the Django floor: "
            f"{bound:.2f} ms = {bound / baseline:.2f}x, before any parsing, "
            "authentication, checks or logging"
        )
        print(
            "first API request of each preloaded worker: "
            + ", ".join(f"{ms:.1f}" for ms in first)
            + f" ms (p50 afterwards {percentiles(samples[names[2]])[0]:.1f} ms)"
        )
        cold = cold_first_requests(config, token, folder)
        print(
            "without preloading, first 3 API requests: "
            + ", ".join(f"{ms:.1f}" for ms in cold)
            + " ms"
        )
        for name in names[2:4]:
            ratio = percentiles(samples[name])[0] / baseline
            verdict = "met" if ratio <= 1.3 else "NOT met"
            print(
                f"goal p50 <= 1.3x in-process, {name.split(' (')[0]}: "
                f"{ratio:.2f}x ({verdict})"
            )

        print()
        results = concurrent(port, token, args.clients, args.seconds)
        total = sum(r["ok"] + r["errors"] for r in results.values())
        errors = sum(r["errors"] for r in results.values())
        print(
            f"{args.clients} concurrent clients for {args.seconds:.0f} s: "
            f"{total} requests, {errors} errors, {total / args.seconds:.1f} req/s"
        )
        for kind, r in results.items():
            p50, p95 = percentiles(r["ms"]) if r["ms"] else (0, 0)
            print(
                f"  {kind:<9} {r['ok']:6d} ok {r['errors']:4d} errors "
                f"{r['ok'] / args.seconds:7.1f} req/s  "
                f"p50 {p50:7.1f} ms  p95 {p95:7.1f} ms"
            )
        return 1 if errors else 0
    finally:
        if server is not None:
            stop_server(server)
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
