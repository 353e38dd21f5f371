"""Slurm executor benchmark: trigger-to-start latency, local vs Slurm, and
10 dispatches submitted at once against one after another.

    SLURM_CONF=/tmp/mlf-slurm/slurm/slurm.conf .venv/bin/python bench/slurm.py
    .venv/bin/python bench/slurm.py --repeat 5 --dispatches 10 --keep

Needs a running cluster (ops/slurm_up.sh; SLURM_CONF in the environment). On
a throwaway installation under /tmp/mlframework-bench/slurm (SQLite platform,
ten copies of the penguins as an SQLite source), with one fast LightGBM version:

(a) latency: `scripts/dispatch.py <id>` (what cron runs) is started, and the
    time until the run row says "started" is taken, --repeat times for a
    local dispatch and for one on Slurm (sbatch, queue, the node starts
    manage.py dispatch execute);
(b) concurrency: --dispatches Slurm dispatches (1 CPU each) submitted at once,
    wall time from the first submission to the last run's end and the most
    runs seen running together, against the same runs submitted one after
    another (each waits for the last to end).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import throwaway  # noqa: E402 (bench/throwaway.py)

FOLDER = Path("/tmp/mlframework-bench/slurm")


def write_config() -> Path:
    return throwaway.write_config(
        FOLDER,
        datasources={
            "bench": {
                "connection": f"DRIVER={{SQLite3}};Database={FOLDER}/data.sqlite3"
            }
        },
        executors={
            "default": "local",
            "slurm": {"cpus": 1, "memory": "2G", "log_dir": str(FOLDER / "slurm")},
        },
    )


def prepare(count: int):
    """A fast LightGBM version, the source table, a local dispatch and
    `count` Slurm dispatches (each its own sink table)."""
    import pandas as pd
    import pyarrow as pa

    from dispatch.models import Dispatch
    from mlframework.core import demo
    from mlframework.lib import odbc
    from registry.models import RegisteredModel
    from registry.training import TrainOptions, train_version

    frame = demo.read_csv()
    model = RegisteredModel.objects.filter(name="penguins").first()
    if model is None or not model.versions.exists():
        train_version(
            frame,
            name="penguins",
            options=TrainOptions(label="species", fast=True, time_limit=30),
        )
        model = RegisteredModel.objects.get(name="penguins")
    if not odbc.table_exists("bench", "penguins"):
        source = frame.drop(columns=["species"])
        big = pa.Table.from_pandas(
            pd.concat([source] * 10, ignore_index=True),
            preserve_index=False,
        )
        odbc.create_table("bench", "penguins", big.schema)
        odbc.write_table("bench", "penguins", big)
    common = {
        "model": model,
        "source_datasource": "bench",
        "source_query": "SELECT * FROM penguins",
        "sink_datasource": "bench",
        "sink_mode": "replace_all",
        "cron": "0 0 1 1 *",
        "enabled": False,
    }
    local, _ = Dispatch.objects.update_or_create(
        name="bench-local",
        defaults={**common, "sink_table": "scores_local", "executor": "local"},
    )
    on_slurm = [
        Dispatch.objects.update_or_create(
            name=f"bench-slurm-{i}",
            defaults={**common, "sink_table": f"scores_{i}", "executor": "slurm"},
        )[0]
        for i in range(count)
    ]
    return local, on_slurm


def trigger(dispatch) -> subprocess.Popen:
    """What cron does: scripts/dispatch.py <id> in a new process."""
    return subprocess.Popen(
        [sys.executable, "scripts/dispatch.py", str(dispatch.pk)],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def newest_run(dispatch, after: int):
    from dispatch.models import DispatchRun

    return DispatchRun.objects.filter(dispatch=dispatch, pk__gt=after).first()


def last_id() -> int:
    from dispatch.models import DispatchRun

    return DispatchRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def wait_for(check, seconds: float = 600, every: float = 0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise SystemExit("timed out waiting")


def latency(dispatch, repeat: int) -> list[float]:
    """Seconds from the trigger to the run's `started`, then to its end."""
    from dispatch.models import DispatchRun

    figures = []
    for _ in range(repeat):
        after = last_id()
        started = time.time()
        process = trigger(dispatch)
        run = wait_for(
            lambda a=after: (r := newest_run(dispatch, a)) and r.started and r
        )
        figures.append(run.started.timestamp() - started)
        wait_for(
            lambda pk=run.pk: DispatchRun.objects.filter(
                pk=pk, finished__isnull=False
            ).exists()
        )
        process.wait()
    return figures


def overlap(runs) -> int:
    """The most runs that were running at the same moment."""
    edges = sorted(
        [(r.started, 1) for r in runs] + [(r.finished, -1) for r in runs],
        key=lambda e: (e[0], e[1]),
    )
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def batch(dispatches, *, at_once: bool):
    from dispatch import cluster
    from dispatch.models import DispatchRun, RunStatus

    first = time.time()
    ids = []
    for dispatch in dispatches:
        submission = cluster.run_scheduled(dispatch)
        if not submission.submitted:
            raise SystemExit(submission.error)
        ids.append(submission.run.pk)
        if not at_once:
            wait_for(
                lambda pk=submission.run.pk: DispatchRun.objects.filter(
                    pk=pk, finished__isnull=False
                ).exists(),
                every=0.1,
            )
    wait_for(
        lambda: (
            DispatchRun.objects.filter(pk__in=ids, finished__isnull=False).count()
            == len(ids)
        ),
        every=0.1,
    )
    runs = list(DispatchRun.objects.filter(pk__in=ids))
    failed = [r for r in runs if r.status != RunStatus.SUCCEEDED]
    if failed:
        raise SystemExit(f"runs failed: {[(r.pk, r.error) for r in failed]}")
    wall = max(r.finished.timestamp() for r in runs) - first
    return wall, overlap(runs), runs


def describe(figures: list[float]) -> str:
    ordered = sorted(figures)
    median = ordered[len(ordered) // 2]
    return (
        f"median {median:.2f} s, min {ordered[0]:.2f} s, max {ordered[-1]:.2f} s "
        f"({len(figures)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dispatches", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the installation")
    parser.add_argument(
        "--skip-latency", action="store_true", help="only (b), the concurrency"
    )
    args = parser.parse_args()
    if not os.environ.get("SLURM_CONF") and not Path("/etc/slurm/slurm.conf").exists():
        raise SystemExit("no cluster: start ops/slurm_up.sh and export SLURM_CONF")
    if FOLDER.exists() and not args.keep:
        shutil.rmtree(FOLDER)
    throwaway.setup_django(write_config())
    from mlframework.lib import slurm

    if not slurm.ping().up:
        raise SystemExit(f"the Slurm controller is down: {slurm.ping().text}")
    (node,) = slurm.nodes()[:1]
    local, on_slurm = prepare(args.dispatches)
    print(
        f"bench/slurm.py at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; node "
        f"{node.name}: {node.cpus} CPUs; {os.cpu_count()} cores on this machine; "
        "3,440 rows per run",
        flush=True,
    )
    if not args.skip_latency:
        print("(a) trigger -> run started (scripts/dispatch.py, what cron runs)")
        print(f"  local: {describe(latency(local, args.repeat))}", flush=True)
        print(f"  slurm: {describe(latency(on_slurm[0], args.repeat))}", flush=True)
    print(f"(b) {args.dispatches} Slurm dispatches, 1 CPU each")
    wall_seq, most_seq, _ = batch(on_slurm, at_once=False)
    print(
        f"  one after another: {wall_seq:.1f} s wall, at most {most_seq} running",
        flush=True,
    )
    wall_all, most_all, runs = batch(on_slurm, at_once=True)
    nodes = sorted({r.slurm_node for r in runs})
    print(
        f"  submitted at once: {wall_all:.1f} s wall, at most {most_all} running "
        f"together (node CPUs: {node.cpus}; nodes {', '.join(nodes)}); "
        f"{wall_seq / wall_all:.2f}x faster",
        flush=True,
    )
    if not args.keep:
        shutil.rmtree(FOLDER, ignore_errors=True)


if __name__ == "__main__":
    main()
