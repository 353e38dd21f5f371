"""Benchmark: snapshotting a training query of 100k and 1M rows, peak memory.

Generates a SQLite training table (bench/out/snapshot-source.sqlite3, never
committed) and, in a fresh child process per run, snapshots a training query
on it (with a :as_of parameter) through the real stack:
registry.snapshots.snapshot_query -> the ODBC adapter (read-only check,
arrow-odbc batches, SQLite3 ODBC driver) -> Parquet row groups -> profile ->
Dataset row.

Also the same rows with the date written into the query instead of bound
(the SQLite3 driver streams only statements without parameters). Baseline,
in the same run and also in a fresh child: what a user would do by hand,
pandas.read_sql of the same query through pyodbc, then to_parquet.
Peak memory is the child's peak RSS (ru_maxrss), and its growth over the RSS
after start-up (Django, pandas, pyarrow, pyodbc imported).

    .venv/bin/python bench/snapshot.py [--rows 100000,1000000]
"""

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import throwaway  # noqa: E402 (bench/throwaway.py)

OUT = ROOT / "bench" / "out"
QUERY = (
    "SELECT id, day, x1, x2, x3, x4, x5, x6, city, segment, label "
    "FROM training WHERE day >= :as_of"
)
AS_OF = "2020-01-01"
# The same rows without a bound parameter: the SQLite3 driver streams
# (StepAPI) only statements without parameters.
PLAIN = QUERY.replace(":as_of", f"'{AS_OF}'")


def make_source(path: Path, rows: int) -> None:
    """A table of `rows` rows (plus 1,000 before AS_OF, left out by the query)."""
    import numpy as np

    if path.exists():
        path.unlink()
    rng = np.random.default_rng(0)
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE training (id INTEGER PRIMARY KEY, day TEXT, x1 REAL, "
        "x2 REAL, x3 REAL, x4 REAL, x5 REAL, x6 REAL, city TEXT, segment TEXT, "
        "label TEXT)"
    )
    cities = np.array(["Recife", "Natal", "Salvador", "Fortaleza", "Maceio"])
    segments = np.array(["retail", "wholesale", "online"])
    block, next_id = 100_000, 1
    total = rows + 1_000
    while next_id <= total:
        size = min(block, total - next_id + 1)
        values = rng.normal(size=(size, 6)).round(4)
        days = np.where(
            np.arange(next_id, next_id + size) <= 1_000, "2019-12-31", "2020-06-01"
        )
        city = cities[rng.integers(0, len(cities), size)]
        segment = segments[rng.integers(0, len(segments), size)]
        label = np.where(values[:, 0] + rng.normal(size=size) > 0, "yes", "no")
        connection.executemany(
            "INSERT INTO training VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (next_id + i, days[i], *row, city[i], segment[i], label[i])
                for i, row in enumerate(values.tolist())
            ),
        )
        next_id += size
    connection.commit()
    connection.close()


def configure(var: Path, source: Path) -> None:
    throwaway.configure(
        var,
        web={"allowed_hosts": ["127.0.0.1"]},
        datasources={"bench": {"connection": f"DRIVER={{SQLite3}};Database={source}"}},
        training={"max_query_rows": 5_000_000},
    )


def child_platform(source: Path, var: Path, bound: bool = True) -> dict:
    configure(var, source)
    import pandas  # noqa: F401 - loaded before the start-up RSS is read
    import pyarrow  # noqa: F401
    import pyodbc  # noqa: F401

    from registry import datasets, snapshots

    start_rss = throwaway.rss_mb()
    started = time.perf_counter()
    dataset, created = snapshots.snapshot_query(
        "bench",
        QUERY if bound else PLAIN,
        params={"as_of": AS_OF} if bound else None,
        name="bench",
    )
    seconds = time.perf_counter() - started
    assert created
    return {
        "seconds": seconds,
        "rows": dataset.rows,
        "bytes": datasets.path_of(dataset).stat().st_size,
        "start_rss": start_rss,
        "peak_rss": throwaway.rss_mb(),
    }


def child_pandas(source: Path, var: Path) -> dict:
    configure(var, source)  # the same imports, so the RSS baselines compare
    import pandas as pd
    import pyarrow  # noqa: F401
    import pyodbc

    start_rss = throwaway.rss_mb()
    started = time.perf_counter()
    connection = pyodbc.connect(f"DRIVER={{SQLite3}};Database={source}")
    frame = pd.read_sql(QUERY.replace(":as_of", "?"), connection, params=[AS_OF])
    connection.close()
    target = var / "pandas.parquet"
    frame.to_parquet(target)
    return {
        "seconds": time.perf_counter() - started,
        "rows": len(frame),
        "bytes": target.stat().st_size,
        "start_rss": start_rss,
        "peak_rss": throwaway.rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, source, var = args.child
        work = {
            "platform": child_platform,
            "plain": lambda s, v: child_platform(s, v, bound=False),
            "pandas": child_pandas,
        }[kind]
        print(json.dumps(work(Path(source), Path(var))))
        return

    OUT.mkdir(parents=True, exist_ok=True)
    print(f"query: {QUERY}  (as_of = {AS_OF}, bound; 'no parameter': the literal)")
    print(
        "rows        way                            s     rows/s   Parquet MB  "
        "peak RSS MB  (growth)"
    )
    peaks: dict[str, list[dict]] = {"pandas": [], "plain": [], "platform": []}
    for rows in (int(s) for s in args.rows.split(",")):
        source = OUT / f"snapshot-source-{rows}.sqlite3"
        make_source(source, rows)
        for kind, label in (
            ("pandas", "pandas.read_sql + to_parquet"),
            ("plain", "snapshot_query, no parameter"),
            ("platform", "snapshot_query, :as_of bound"),
        ):
            with tempfile.TemporaryDirectory(prefix="mlf-bench-snapshot-") as var:
                result = throwaway.run_child(__file__, kind, str(source), var)
            assert result["rows"] == rows, (kind, result["rows"], rows)
            peaks[kind].append(result)
            growth = result["peak_rss"] - result["start_rss"]
            print(
                f"{rows:10,d}  {label:30s} {result['seconds']:6.2f}  "
                f"{rows / result['seconds']:9,.0f}  {result['bytes'] / 2**20:10.1f}  "
                f"{result['peak_rss']:11.0f}  (+{growth:.0f})"
            )
        source.unlink()
    for kind, results in peaks.items():
        if len(results) >= 2:
            first, last = results[0], results[-1]
            growth = (last["peak_rss"] - last["start_rss"]) / max(
                first["peak_rss"] - first["start_rss"], 1
            )
            print(
                f"{kind:9s} peak RSS {last['rows']:,} / {first['rows']:,} rows: "
                f"{last['peak_rss'] / first['peak_rss']:.2f}x "
                f"(growth over start-up {growth:.2f}x)"
            )


if __name__ == "__main__":
    main()
