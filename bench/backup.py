"""manage.py backup and restore of a store of 20 model versions and 1M events.

Two throwaway installations under a temp folder (SQLite platform and event
log, their own var/): the first gets --versions model versions (one tiny
LightGBM fitted on the penguins, registered again and again through
registry.tests.helpers.train_tiny, which copies the fit) and --events events
(bulk_create into the events database); `manage.py backup` runs on it, then
`manage.py restore` on the second, freshly migrated one. Each command runs in
its own child process: wall time and peak RSS (VmHWM) are printed, and the
archive's size against what it holds on disk.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _config(folder: Path) -> Path:
    raw = yaml.safe_load((ROOT / "config.yaml").read_text())
    var = folder / "var"
    for key, value in raw["paths"].items():
        raw["paths"][key] = str(folder / value)
    for alias in ("default", "events"):
        raw["databases"][alias]["name"] = str(var / f"{alias}.sqlite3")
    raw["cron"]["tag"] = f"mlf-bench-{uuid.uuid4().hex[:8]}"
    raw["cron"]["log_dir"] = str(var / "logs")
    raw["hosts"] = []
    folder.mkdir(parents=True)
    file = folder / "config.yaml"
    file.write_text(yaml.safe_dump(raw))
    return file


def _env(config: Path) -> dict:
    return {
        **os.environ,
        "MLFRAMEWORK_CONFIG": str(config),
        "DJANGO_SETTINGS_MODULE": "mlframework.settings",
        "PYTHONPATH": str(ROOT),
    }


def _run(config: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=_env(config),
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _timed(config: Path, command: list[str]) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and output of one manage.py command in a child."""
    stdout = _run(config, __file__, "--child", "--config", str(config), *command)
    lines = stdout.strip().splitlines()
    seconds, peak = lines[-1].split()
    return float(seconds), float(peak), "\n".join(lines[:-1])


def _child(command: list[str]) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    start = time.perf_counter()
    call_command(*command)
    seconds = time.perf_counter() - start
    status = Path("/proc/self/status").read_text()
    peak = next(line for line in status.splitlines() if line.startswith("VmHWM"))
    print(f"{seconds:.3f} {int(peak.split()[1]) / 1024:.1f}")


def _fill(versions: int, events: int) -> None:
    import django

    django.setup()
    import datetime as dt

    from django.utils import timezone

    from mlframework.core import demo
    from mlframework.events.models import Event
    from registry.tests.helpers import train_tiny

    frame = demo.read_csv()
    for _ in range(versions):
        train_tiny(frame, "species", "penguins")
    now = timezone.now()
    batch = []
    for i in range(events):
        batch.append(
            Event(
                created=now - dt.timedelta(seconds=i),
                source="bench",
                kind="prediction",
                message=f"penguins v1 predicted {i % 100} rows for ana",
                username="ana",
                model_version_id=1,
                data={"rows": i % 100, "ms": 3.2},
            )
        )
        if len(batch) == 10_000:
            Event.objects.bulk_create(batch)
            batch = []
    Event.objects.bulk_create(batch)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fill", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    # bench/dispatch.py would shadow the dispatch app in the children.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
    if args.child:
        _child(rest)
        return
    if args.fill:
        _fill(args.versions, args.events)
        return
    folder = Path(tempfile.mkdtemp(prefix="mlf-bench-backup-"))
    try:
        source, target = _config(folder / "a"), _config(folder / "b")
        for config in (source, target):
            for database in ("default", "events"):
                _run(config, "manage.py", "migrate", "--database", database, "-v0")
        start = time.perf_counter()
        _run(source, __file__, "--fill", "--versions", str(args.versions),
             "--events", str(args.events))  # fmt: skip
        print(
            f"filled in {time.perf_counter() - start:.0f} s: {args.versions} model "
            f"versions, {args.events:,} events (SQLite platform and event log)"
        )
        var = source.parent / "var"
        store, datasets = _size(var / "models"), _size(var / "datasets")
        databases = sum(p.stat().st_size for p in var.glob("*.sqlite3*"))
        archive = folder / "platform.tar.gz"
        seconds, peak, out = _timed(source, ["backup", "--output", str(archive)])
        print(f"backup   {seconds:7.1f} s  peak RSS {peak:6.0f} MB   {out}")
        seconds, peak, out = _timed(target, ["restore", str(archive)])
        print(f"restore  {seconds:7.1f} s  peak RSS {peak:6.0f} MB   {out}")
        size = archive.stat().st_size
        print(
            f"archive {size / 1e6:.1f} MB; on disk: model store {store / 1e6:.1f} MB "
            f"(+ datasets {datasets / 1e6:.1f} MB), "
            f"databases {databases / 1e6:.1f} MB; "
            f"archive / (store + databases) = {size / (store + databases):.2f}"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
