"""Showroom benchmark: one-row predictions through the platform vs by hand.

    .venv/bin/python bench/showroom.py [--model demo|tiny] [--requests 300]
        [--clients 16] [--seconds 30] [--workers 2]

In one run, on a throwaway installation under a temp folder (SQLite for the
platform and the event log, nothing shared with var/):
0. uses config.yaml's database settings (SQLite files, WAL) in a temp folder;
1. trains a real AutoGluon model on the penguins in a separate process:
   the demo model's configuration (registry.demo: default preset, the demo
   time limit) or, with --model tiny, registry.tests.helpers.train_tiny;
2. the baseline seed 000 describes for serving: bench/handwritten.py, a bare
   WSGI app holding the same predictor folder loaded with
   TabularPredictor.load and persist(), answering predict_proba for a JSON
   row, under the same gunicorn settings as the platform (workers, threads,
   worker class, timeout, OMP_NUM_THREADS=1);
3. the predict API (token auth, JSON) and the Showroom form POST (session,
   CSRF, htmx partial) through the platform's gunicorn whose workers
   preloaded the model (showroom.gunicorn), one keep-alive client each,
   interleaved with the hand-written endpoint: p50 / p95 in ms, their ratio
   to the hand-written endpoint's, and each split into the inference as
   timed inside the server and the rest;
4. N concurrent clients for S seconds against the hand-written endpoint,
   the predict API, and half API half Showroom, in interleaved rounds of
   ~10 s: errors and throughput.
Goals (ok / MISS): the predict API's p50 and p95 at most 1.0x the
hand-written endpoint's; N concurrent API clients at least 1.0x its
throughput with 0 errors. Exits 1 if any request failed.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

import throwaway  # noqa: E402 (bench/throwaway.py)

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


# The inference time each server reports (latency_ms), per endpoint.
SERVER_MS: dict[str, list[float]] = {"api": [], "handwritten": []}


def write_config(folder: Path) -> Path:
    return throwaway.write_config(
        folder,
        web={"allowed_hosts": ["127.0.0.1"]},
        datasources={
            "demo": {"connection": f"DRIVER={{SQLite3}};Database={folder}/demo.sqlite3"}
        },
    )


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return p50, p95


def setup_django(config: Path, *, migrate: bool):
    throwaway.setup_django(config, migrate=migrate)
    if migrate:
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)


def prepare(model: str) -> tuple[str, object]:
    """A user with the Showroom permission and a token; the model."""
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    from mlframework.core import demo
    from registry.demo import MODEL
    from registry.tests.helpers import train_tiny
    from registry.training import TrainOptions, train_version

    user = User.objects.create_user("bench", password=PASSWORD)
    user.groups.add(Group.objects.get(name="analyst"))
    token = Token.objects.create(user=user).key
    started = time.perf_counter()
    frame = demo.read_csv()
    if model == "tiny":
        version = train_tiny(frame, "species", MODEL, user=user)
    else:
        # As registry.demo.queue_demo_model trains it (the CSV has no id).
        options = TrainOptions(
            label="species",
            time_limit=settings.CONFIG.training.demo_time_limit,
            alias="production",
        )
        version = train_version(
            frame.drop(columns="id"), name=MODEL, options=options, user=user
        )
    print(
        f"trained {version} ({model} configuration) "
        f"in {time.perf_counter() - started:.1f} s"
    )
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
        # The server's own timing of the prediction, for the split.
        SERVER_MS["api"].append(json.loads(data)["latency_ms"])
        return True

    return call


def handwritten_call():
    body = json.dumps({"row": ROW})
    headers = {"Content-Type": "application/json"}

    def call(client: Client) -> bool:
        status, data = client.request("POST", "/", body, headers)
        if status != 200 or b'"prediction"' not in data:
            return False
        SERVER_MS["handwritten"].append(json.loads(data)["latency_ms"])
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


def concurrent(port: int, kinds: list[str], clients: int, seconds: float, make):
    """`clients` keep-alive clients for `seconds`, client i sending
    kinds[i % len(kinds)] (make(kind) -> call); per kind: ok, errors, ms."""
    calls = {kind: make(kind) for kind in kinds}
    results = {kind: {"ok": 0, "errors": 0, "ms": []} for kind in kinds}
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def worker(index: int) -> None:
        kind = kinds[index % len(kinds)]
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


def report_concurrent(title: str, results: dict, seconds: float) -> tuple[float, int]:
    """Print a concurrent run; return its requests per second and errors."""
    total = sum(r["ok"] + r["errors"] for r in results.values())
    errors = sum(r["errors"] for r in results.values())
    print(f"{title}: {total} requests, {errors} errors, {total / seconds:.1f} req/s")
    for kind, r in results.items():
        p50, p95 = percentiles(r["ms"]) if r["ms"] else (0, 0)
        print(
            f"  {kind:<11} {r['ok']:6d} ok {r['errors']:4d} errors "
            f"{r['ok'] / seconds:7.1f} req/s  "
            f"p50 {p50:7.1f} ms  p95 {p95:7.1f} ms"
        )
    return sum(r["ok"] for r in results.values()) / seconds, errors


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_settings(workers: int) -> list[str]:
    """ops/run.sh's settings, for the platform and the hand-written app alike
    (OMP_NUM_THREADS=1 comes from this process's environment for both)."""
    return [
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--worker-class",
        "gthread",
        "--timeout",
        "120",
    ]


def start_server(
    config: Path, port: int, workers: int, log: Path, *, warm=True, predictor=None
):
    """gunicorn as ops/run.sh starts it; warm=False: without the Showroom's
    hooks (no preloading), for the cold first request; predictor: the
    hand-written app (bench/handwritten.py) serving that folder instead."""
    env = {**os.environ, "MLFRAMEWORK_CONFIG": str(config)}
    log.unlink(missing_ok=True)  # ready() reads it (a --reuse folder has one)
    if predictor is not None:
        app, hooks = ["bench.handwritten:app"], []
        env["MLF_BENCH_PREDICTOR"] = str(predictor)
    else:
        app = ["mlframework.wsgi:application"]
        hooks = ["-c", "python:showroom.gunicorn"] if warm else []
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            *app,
            *hooks,
            "--bind",
            f"127.0.0.1:{port}",
            *gunicorn_settings(workers),
            "--error-logfile",
            str(log),
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
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


def line(name: str, samples: list[float], baseline: tuple[float, float] | None):
    p50, p95 = percentiles(samples)
    if baseline is None:
        return f"{name:<46} {p50:8.2f} {p95:8.2f}"
    return (
        f"{name:<46} {p50:8.2f} {p95:8.2f}   {p50 / baseline[0]:5.2f}x "
        f"{p95 / baseline[1]:5.2f}x"
    )


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def shortcuts(version) -> str:
    """Which of the platform's inference shortcuts the loaded model took (as
    the server's workers load it: the same cache code)."""
    from registry import cache, services

    services.predict_batch(version, example(version))  # loads it here
    report = cache.shortcut_report(version)
    return f"best model {version.lineage.best_model}; " + "; ".join(
        str(outcome) for outcome in report.outcomes
    )


def example(version):
    from showroom.warm import example_frame

    return example_frame(version.features)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["demo", "tiny"], default="demo")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument(
        "--reuse", help="a folder kept by --keep: its model, no training"
    )
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # Predictions single-threaded, as in the server (showroom/gunicorn.py), so
    # the in-process calls and both servers do the same work.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.prepare:
        # In its own process: a process that has just trained predicts more
        # slowly, and the baseline must be a process that only predicts.
        setup_django(Path(args.prepare) / "config.yaml", migrate=True)
        token, version = prepare(args.model)
        (Path(args.prepare) / "token").write_text(token)
        return 0

    if args.reuse:
        folder = Path(args.reuse)
        args.keep = True
    else:
        folder = Path(tempfile.mkdtemp(prefix="mlf-bench-showroom-"))
    servers = []
    try:
        config = write_config(folder)
        if not args.reuse:
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    *("--prepare", str(folder)),
                    "--model",
                    args.model,
                ],
                check=True,
            )
        token = (folder / "token").read_text()
        setup_django(config, migrate=False)
        from registry import services, store

        version = services.resolve("penguins", "production")
        predict, predict_cases = in_process_calls(version)
        print(f"{version}: {shortcuts(version)}")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        port, hand_port = free_port(), free_port()
        started = time.perf_counter()
        servers.append(start_server(config, port, args.workers, folder / "g.log"))
        predictor = store.version_dir("penguins", version.number) / store.PREDICTOR
        servers.append(
            start_server(
                config,
                hand_port,
                args.workers,
                folder / "handwritten.log",
                predictor=predictor,
            )
        )
        print(
            f"gunicorn {' '.join(gunicorn_settings(args.workers))}, "
            f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}: the platform on "
            f"127.0.0.1:{port}, the hand-written app on 127.0.0.1:{hand_port}, "
            f"up and preloaded in {time.perf_counter() - started:.1f} s"
        )
        api_client, form_client = Client(port), Client(port)
        hand_client = Client(hand_port)
        form_client.login()
        api, form, hand = api_call(token), showroom_call(), handwritten_call()
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

        for samples_of in SERVER_MS.values():
            samples_of.clear()
        hand_name, api_name = (
            "hand-written WSGI app (gunicorn, JSON)",
            ("predict API (gunicorn, token, JSON)"),
        )
        samples = interleaved(
            {
                hand_name: lambda: hand(hand_client),
                api_name: lambda: api(api_client),
                "Showroom POST (gunicorn, session, htmx)": lambda: form(form_client),
                "in-process registry.services.predict": predict,
                "in-process showroom.services.predict_cases": predict_cases,
                "(floor: GET a static file through gunicorn)": floor,
                "(floor: Django's middleware, a 302 to login)": django_floor,
            },
            args.requests,
        )
        baseline = percentiles(samples[hand_name])
        print()
        print(
            f"one row, {args.requests} calls each, interleaved"
            "      p50 ms   p95 ms   ratio to hand-written p50 p95"
        )
        for index, (name, values) in enumerate(samples.items()):
            print(line(name, values, baseline if index else None))
        print()
        print("the split, p50 ms: inference as timed inside the server + the rest")
        for name, kind in ((hand_name, "handwritten"), (api_name, "api")):
            inside = percentiles(SERVER_MS[kind][20:])[0]  # after the warm-up
            total = percentiles(samples[name])[0]
            print(
                f"  {name.split(' (')[0]:<24} {total:6.2f} = inference "
                f"{inside:5.2f} + overhead {total - inside:5.2f}"
            )
        print(
            "first API request of each preloaded worker: "
            + ", ".join(f"{ms:.1f}" for ms in first)
            + f" ms (p50 afterwards {percentiles(samples[api_name])[0]:.1f} ms)"
        )
        api_p50, api_p95 = percentiles(samples[api_name])
        goals = [
            (
                "goal predict API p50 <= 1.0x hand-written",
                api_p50 / baseline[0],
                api_p50 <= baseline[0],
            ),
            (
                "goal predict API p95 <= 1.0x hand-written",
                api_p95 / baseline[1],
                api_p95 <= baseline[1],
            ),
        ]
        for name in list(samples)[2:3]:
            ratio = percentiles(samples[name])[0] / baseline[0]
            print(f"(information) {name.split(' (')[0]} p50: {ratio:.2f}x hand-written")

        print()
        makers = {
            "handwritten": handwritten_call,
            "api": lambda: api_call(token),
            "showroom": showroom_call,
        }
        # In rounds, each way in turn, so that what else runs on the machine
        # weighs on all of them alike.
        ways = (
            ("hand-written app", hand_port, ["handwritten"]),
            ("predict API", port, ["api"]),
            ("half API, half Showroom (information)", port, ["api", "showroom"]),
        )
        rounds = max(1, round(args.seconds / 10))
        results = {title: {} for title, _, _ in ways}
        for _ in range(rounds):
            for title, run_port, kinds in ways:
                got = concurrent(
                    run_port,
                    kinds,
                    args.clients,
                    args.seconds / rounds,
                    lambda k: makers[k](),
                )
                for kind, r in got.items():
                    total = results[title].setdefault(
                        kind, {"ok": 0, "errors": 0, "ms": []}
                    )
                    total["ok"] += r["ok"]
                    total["errors"] += r["errors"]
                    total["ms"] += r["ms"]
        runs = {
            title: report_concurrent(
                f"{args.clients} concurrent clients for {args.seconds:.0f} s "
                f"({rounds} rounds, interleaved), {title}",
                results[title],
                args.seconds,
            )
            for title, _, _ in ways
        }
        hand_rate, hand_errors = runs["hand-written app"]
        api_rate, api_errors = runs["predict API"]
        goals.append(
            (
                f"goal {args.clients} concurrent clients: API throughput >= 1.0x "
                "hand-written, 0 errors",
                api_rate / hand_rate,
                api_rate >= hand_rate and api_errors == 0,
            )
        )
        cold = cold_first_requests(config, token, folder)
        print(
            "without preloading, first 3 API requests: "
            + ", ".join(f"{ms:.1f}" for ms in cold)
            + " ms"
        )
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print()
        for name, ratio, ok in goals:
            print(f"{name}: {ratio:.2f}x {verdict(ok)}")
        errors = sum(errors for _, errors in runs.values())
        return 1 if errors or hand_errors else 0
    finally:
        for server in servers:
            stop_server(server)
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
