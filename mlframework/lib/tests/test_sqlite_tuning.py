"""SQLite's memory statistics are off in the platform's processes."""

import subprocess
import sys
from pathlib import Path

from mlframework.lib import sqlite_tuning

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import sqlite3
from mlframework.lib import sqlite_tuning
connection = sqlite3.connect(":memory:")
connection.execute("CREATE TABLE t (x)")
connection.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
print(sqlite_tuning.disable_memory_statistics(), sqlite_tuning.memory_used(), sep="|")
"""


def _run(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip().split("|")


def test_importing_the_platform_turns_them_off_before_sqlite_starts():
    state, used = _run("import mlframework\n" + PROBE)
    assert state == "off" and used == "0"


def test_too_late_once_sqlite_has_started_and_nothing_breaks():
    state, used = _run("import sqlite3\n" + PROBE)
    assert state == "too late" and int(used) > 0


def test_this_test_process_runs_with_them_off():
    # pytest-django imported the settings, hence the package, before any
    # database was opened.
    assert sqlite_tuning.disable_memory_statistics() == "off"
    assert sqlite_tuning.memory_used() == 0
