"""Benchmark: the Events page's queries on a MariaDB event log of N events.

Starts its own throwaway MariaDB (127.0.0.1:13320), fills it with N events
(default 1,000,000) spread over 90 days, 6 sources, 40 kinds and 4 levels, then
times each Events-page query as the page runs it (keyset pagination, indexed
filters) against the baseline a plain Django ListView would run (COUNT(*) plus
LIMIT/OFFSET) for the same filter, in the same run.

    .venv/bin/python bench/events_page.py [--events 1000000] [--keep]
"""

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import throwaway  # noqa: E402 (bench/throwaway.py)

BASE = "/tmp/mlframework-bench/mariadb"
PORT = "13320"


def start_mariadb() -> None:
    env = {**os.environ, "BASE": BASE, "PORT": PORT}
    subprocess.run(["bash", str(ROOT / "ops/mariadb_up.sh")], env=env, check=True)


def stop_mariadb(keep_data: bool) -> None:
    env = {**os.environ, "BASE": BASE}
    subprocess.run(["bash", str(ROOT / "ops/mariadb_down.sh")], env=env, check=False)
    if not keep_data:
        shutil.rmtree(BASE, ignore_errors=True)


def configure(var: Path) -> None:
    mariadb = {"engine": "mysql", "name": "appdb", "host": "127.0.0.1"}
    config = throwaway.write_config(
        var,
        databases={
            "events": mariadb
            | {"port": int(PORT), "user": "app", "password": "apppass"}
        },
    )
    throwaway.setup_django(config, migrate=False)  # events only, below


def fill(count: int) -> None:
    from django.db import connections

    from mlframework.events.models import Event

    existing = Event.objects.using("events").count()
    if existing >= count:
        print(f"reusing {existing:,} events")
        return
    rng = random.Random(42)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    sources = ["core", "registry", "dispatch", "showroom", "monitor", "api"]
    kinds = [f"kind.{i}" for i in range(40)]
    levels = ["debug"] * 2 + ["info"] * 12 + ["warning"] * 3 + ["error"]
    words = [
        "model",
        "run",
        "rows",
        "chunk",
        "read",
        "wrote",
        "predicted",
        "failed",
        "started",
        "finished",
    ]
    started = time.perf_counter()
    with connections["events"].cursor() as cursor:
        batch = []
        for i in range(existing, count):
            batch.append(
                (
                    uuid.uuid4().hex,
                    now - dt.timedelta(seconds=rng.randrange(90 * 86400)),
                    rng.choice(sources),
                    rng.choice(kinds),
                    rng.choice(levels),
                    " ".join(rng.choices(words, k=6)) + f" #{i}",
                    "",
                    "{}",
                )
            )
            if len(batch) == 5000:
                _insert(cursor, batch)
                batch = []
        if batch:
            _insert(cursor, batch)
    print(
        f"inserted {count - existing:,} events in {time.perf_counter() - started:.0f} s"
    )


def _insert(cursor, rows) -> None:
    cursor.executemany(
        "INSERT INTO events_event (id, created, source, kind, level, message, "
        "username, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        rows,
    )


def timed(function, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--keep", action="store_true", help="keep the filled database for the next run"
    )
    args = parser.parse_args()
    start_mariadb()
    try:
        with tempfile.TemporaryDirectory() as var:
            configure(Path(var))
            from django.core.management import call_command
            from django.core.paginator import Paginator

            from mlframework.events import pages
            from mlframework.events.forms import EventFilterForm
            from mlframework.events.models import Event

            call_command("migrate", database="events", verbosity=0)
            fill(args.events)
            today = dt.date.today()
            cases = {
                "no filter": {},
                "source": {"source": "dispatch"},
                "level=error, last 7 days": {
                    "level": "error",
                    "since": (today - dt.timedelta(days=7)).isoformat(),
                },
                "kind + text": {"kind": "kind.7", "q": "failed"},
            }
            print(f"\n{args.events:,} events in MariaDB; median of 5, ms per page")
            print(
                f"{'filter':28} {'page 1':>8} {'page 50':>8} {'baseline p50':>13} "
                f"{'ratio':>6}"
            )
            for label, query in cases.items():
                form = EventFilterForm(query)
                assert form.is_valid(), form.errors
                queryset = form.filter(Event.objects.all())

                def first_page(qs=queryset):
                    return pages.page(qs, None, 50)

                marker = None
                result = first_page()
                for _ in range(49):  # walk to page 50 through the markers
                    if not result.next_marker:
                        break
                    form_b = EventFilterForm({**query, "before": result.next_marker})
                    assert form_b.is_valid()
                    marker = form_b.cleaned_data["before"]
                    result = pages.page(queryset, marker, 50)

                def fiftieth(qs=queryset, m=marker):
                    return pages.page(qs, m, 50)

                def baseline(qs=queryset):
                    paginator = Paginator(qs.using("events").order_by("-created"), 50)
                    number = min(50, paginator.num_pages)  # COUNT(*)
                    return list(paginator.page(number).object_list)  # OFFSET

                p1, p50, base = timed(first_page), timed(fiftieth), timed(baseline)
                print(
                    f"{label:28} {p1:8.1f} {p50:8.1f} {base:13.1f} "
                    f"{base / max(p50, 0.001):5.0f}x"
                )
    finally:
        stop_mariadb(keep_data=args.keep)


if __name__ == "__main__":
    main()
