"""Dispatch benchmark: the streaming runner vs its stages alone vs a script by hand.

    .venv/bin/python bench/dispatch.py                      # everything
    .venv/bin/python bench/dispatch.py --rows 100000 --db sqlite --model lgbm --keep

On a throwaway installation under /tmp/mlframework-bench/dispatch (SQLite for
the platform, a throwaway MariaDB on 127.0.0.1:13321 for the MariaDB source and
sink), for each database x row count x model, all measured in the same run:

(a) each stage alone: reading the source with arrow-odbc as the runner does
    (MariaDB: in pages by the primary key, dispatch.page_by); the bare
    predictor.predict on all rows already in memory, as AutoGluon trained it
    (the goal's stage) and with the version's LightGBM boosters compiled to
    native code (registry.acceleration, what the platform predicts with;
    printed as "compiled", with how many predictions differ); writing the
    predictions with arrow-odbc in one transaction;
(b) the platform's dispatch end to end (runner.run_scheduled in a child
    process, whose peak RSS is recorded), into an existing sink table as
    every scheduled run after the first;
(c) what a user would write by hand: pandas.read_sql through pyodbc,
    AutoGluon's predict, pyodbc executemany + commit (on at most
    --handwritten-rows rows: it is linear and slow; rows/s is what is
    compared).

Each configuration runs --repeats rounds of (a) and (b) (default 3); every
figure printed is the median of its rounds (the end-to-end run's own figures,
its peak RSS among them, come from its median round).

Goals printed at the end: (b) >= 0.8 x the slowest stage of (a) in rows/s;
(b) >= 5 x (c) on MariaDB with the LightGBM model; peak RSS of (b) at the
largest row count <= 1.25 x that at the smallest.

Each configuration also prints the CPU-seconds its stages cost alone (this
process and, for MariaDB, the database server; also with the compiled
predict), and from the platform's the best overlap ratio the machine's
cores allow: three stages that together need more
CPU than the cores can give while the slowest runs cannot all overlap.

Models: "lgbm" is one LightGBM with default hyperparameters; "default" is the
demo's default preset (training.default_preset) trained with a short time
limit. Both are trained once and kept with --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import throwaway  # noqa: E402 (bench/throwaway.py)

FOLDER = Path("/tmp/mlframework-bench/dispatch")
MARIADB_BASE = "/tmp/mlframework-bench/dispatch-mariadb"
MARIADB_PORT = "13321"
CORES = len(os.sched_getaffinity(0))
CHUNK = 10_000  # the dispatch default (dispatch.models.Dispatch.chunk_size)
MODELS = {"lgbm": "bench-lgbm", "default": "bench-default"}
DATASOURCES = {"sqlite": "bench_sqlite", "mariadb": "bench_mariadb"}
# How each source is read, by the runner and by the read stage alike: MariaDB
# in pages by its primary key (Connector/ODBC 3.1.15 holds a whole result set
# in memory otherwise), SQLite in one streamed query (StepAPI).
PAGE_BY = {"bench_sqlite": "", "bench_mariadb": "id"}


# --------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------


def write_config() -> Path:
    return throwaway.write_config(
        FOLDER,
        datasources={
            "bench_sqlite": {
                "connection": f"DRIVER={{SQLite3}};Database={FOLDER}/data.sqlite3"
            },
            "bench_mariadb": {
                "connection": "DRIVER={MariaDB Unicode};SERVER=127.0.0.1;"
                f"PORT={MARIADB_PORT};DATABASE=appdb;UID=app;"
                "PWD=${BENCH_MARIADB_PASSWORD};CHARSET=utf8mb4",
                "timeout": 10,
            },
        },
    )


def setup_django(config: Path, *, migrate: bool) -> None:
    os.environ.setdefault("BENCH_MARIADB_PASSWORD", "apppass")
    throwaway.setup_django(config, migrate=migrate)
    # The runner's malloc settings (dispatch.runner._process), so the stages
    # alone are measured as the runner runs them.
    from mlframework.lib import memory

    memory.keep_freed_buffers()


def mariadb(action: str) -> None:
    env = {**os.environ, "BASE": MARIADB_BASE, "PORT": MARIADB_PORT}
    script = "mariadb_up.sh" if action == "up" else "mariadb_down.sh"
    subprocess.run(
        ["bash", str(ROOT / "ops" / script)],
        env=env,
        check=action == "up",
        capture_output=True,
    )


def cpu_seconds(datasource: str) -> float:
    """CPU time used so far by this process (all its threads) plus, for the
    MariaDB datasource, by the MariaDB server: the work a stage costs the
    machine, whichever process does it."""
    times = os.times()
    used = times.user + times.system
    if datasource == DATASOURCES["mariadb"]:
        pid = Path(MARIADB_BASE, "run", "mysqld.pid").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def train_models(wanted: list[str], time_limit: int) -> dict:
    from mlframework.core import demo
    from registry import acceleration
    from registry.models import RegisteredModel
    from registry.training import TrainOptions, train_version

    frame = demo.read_csv()
    versions = {}
    for key in wanted:
        name = MODELS[key]
        existing = RegisteredModel.objects.filter(name=name).first()
        if existing is not None and existing.versions.exists():
            versions[key] = existing.version_for("production")
            if acceleration.needs_compiling(versions[key]):  # trained before
                acceleration.compile_version(versions[key])
            continue
        started = time.perf_counter()
        options = TrainOptions(
            label="species",
            time_limit=time_limit,
            excluded=["id"],
            seed=0,
            alias="production",
        )
        versions[key] = train_version(
            frame,
            name=name,
            options=options,
            hyperparameters={"GBM": {}} if key == "lgbm" else None,
        )
        print(
            f"trained {versions[key]} ({key}) in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    return versions


def ensure_source(datasource: str, rows: int) -> str:
    """bench_src_<rows>: the penguins (without species) tiled to `rows` rows."""
    import numpy as np
    import pyarrow as pa

    from mlframework.core import demo
    from mlframework.lib import odbc

    table = f"bench_src_{rows}"
    if odbc.table_exists(datasource, table):
        count = odbc.probe(datasource, f"SELECT COUNT(*) FROM {table}").value
        if count == rows and _has_primary_key(datasource, table):
            return table
        odbc.execute(datasource, f"DROP TABLE {table}")
    base = demo.read_csv().drop(columns=["species"])
    repeats = -(-rows // len(base))
    frame = base.loc[np.tile(base.index.to_numpy(), repeats)[:rows]].reset_index(
        drop=True
    )
    frame["id"] = np.arange(1, rows + 1, dtype="int64")
    data = pa.Table.from_pandas(frame, preserve_index=False)
    odbc.create_table(datasource, table, data.schema)
    if PAGE_BY[datasource]:
        # Paged reads go by the primary key, as on a real table.
        odbc.execute(datasource, f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
    started = time.perf_counter()
    for offset in range(0, rows, 200_000):
        odbc.write_table(datasource, table, data.slice(offset, 200_000))
    print(
        f"  made {datasource}.{table} ({rows:,} rows) in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return table


def _has_primary_key(datasource: str, table: str) -> bool:
    from mlframework.lib import odbc

    if not PAGE_BY[datasource]:
        return True
    return bool(
        odbc.probe(
            datasource,
            "SELECT COUNT(*) FROM information_schema.table_constraints WHERE "
            f"table_schema = DATABASE() AND table_name = '{table}' AND "
            "constraint_type = 'PRIMARY KEY'",
        ).value
    )


# --------------------------------------------------------------------------
# (a) stages alone
# --------------------------------------------------------------------------


def stage_read(datasource: str, table: str):
    from dispatch.runner import READ_BUFFER_BYTES, READ_MAX_TEXT_BYTES
    from mlframework.lib import odbc

    cpu = cpu_seconds(datasource)
    started = time.perf_counter()
    if PAGE_BY[datasource]:
        reader = odbc.read_pages(
            datasource,
            f"SELECT * FROM {table}",
            PAGE_BY[datasource],
            CHUNK,
            max_bytes_per_batch=READ_BUFFER_BYTES,
            max_text_size=READ_MAX_TEXT_BYTES,
        )
    else:
        reader = odbc.read_batches(
            datasource,
            f"SELECT * FROM {table}",
            CHUNK,
            max_bytes_per_batch=READ_BUFFER_BYTES,
            max_text_size=READ_MAX_TEXT_BYTES,
            streaming=True,
        )
    batches = list(reader)
    return time.perf_counter() - started, cpu_seconds(datasource) - cpu, batches


_AUTOGLUON: dict = {}


def autogluon_predictor(version):
    """The version's predictor as AutoGluon trained it: loaded and persisted,
    its LightGBM models not replaced by their compiled code."""
    from registry import store

    if version.pk not in _AUTOGLUON:
        _AUTOGLUON[version.pk] = store.load(version)
        _AUTOGLUON[version.pk].persist()
    return _AUTOGLUON[version.pk]


def stage_predict(version, frame, *, compiled: bool):
    """predictor.predict on all rows at once: AutoGluon's as trained (the
    issue's bare predict), or the platform's, with the compiled boosters."""
    from registry import services
    from registry.cache import predictors

    features = services._coerce(version, frame)  # not timed
    if compiled:
        predictor = predictors.get(version).predictor
    else:
        predictor = autogluon_predictor(version)
    cpu = cpu_seconds("")
    started = time.perf_counter()
    predicted = predictor.predict(features)
    return time.perf_counter() - started, cpu_seconds("") - cpu, predicted


def output_table(frame, predicted, version):
    import datetime as dt

    import pyarrow as pa

    rows = len(frame)
    return pa.table(
        {
            "id": pa.array(frame["id"].to_numpy()),
            "prediction": pa.array(predicted.to_numpy(), from_pandas=True),
            "run_id": pa.repeat(pa.scalar(0, pa.int64()), rows),
            "model_version": pa.repeat(pa.scalar(str(version)), rows),
            "run_key": pa.repeat(pa.scalar("bench"), rows),
            "scored_at": pa.repeat(
                pa.scalar(dt.datetime(2026, 1, 1), pa.timestamp("ms")), rows
            ),
        }
    )


def stage_write(datasource: str, table: str, data) -> tuple[float, float]:
    from mlframework.lib import odbc

    odbc.execute(datasource, f"DROP TABLE IF EXISTS {table}")
    odbc.create_table(
        datasource,
        table,
        data.schema,
        types={"run_key": "VARCHAR(64)", "model_version": "VARCHAR(100)"},
        index=["run_key"],
    )
    cpu = cpu_seconds(datasource)
    started = time.perf_counter()
    writer = odbc.TransactionWriter(datasource)
    writer.start(table, data.schema, chunk_size=10_000)
    for batch in data.to_batches(max_chunksize=CHUNK):
        writer.write(batch)
    writer.commit()
    seconds = time.perf_counter() - started
    cpu = cpu_seconds(datasource) - cpu
    odbc.execute(datasource, f"DROP TABLE {table}")
    return seconds, cpu


# --------------------------------------------------------------------------
# (b) the platform, end to end, in a child process
# --------------------------------------------------------------------------


def end_to_end(config: Path, version, datasource: str, source: str, rows: int):
    from dispatch.models import Dispatch
    from mlframework.lib import odbc

    sink = f"bench_sink_{rows}"
    odbc.execute(datasource, f"DROP TABLE IF EXISTS {sink}")
    # The sink exists, as for every scheduled run after the first; the write
    # stage (a) also creates its table before its clock starts.
    import pandas as pd

    odbc.create_table(
        datasource,
        sink,
        output_table(pd.DataFrame({"id": [1]}), pd.Series(["x"]), version).schema,
        types={"run_key": "VARCHAR(64)", "model_version": "VARCHAR(100)"},
        index=["run_key"],
    )
    dispatch, _ = Dispatch.objects.update_or_create(
        name=f"bench-{datasource}-{version.model.name}-{rows}",
        defaults={
            "model": version.model,
            "version_ref": "production",
            "source_datasource": datasource,
            "source_query": f"SELECT * FROM {source}",
            "sink_datasource": datasource,
            "sink_table": sink,
            "key_columns": ["id"],
            "page_by": PAGE_BY[datasource],
            "cron": "0 0 1 1 *",
            "enabled": False,
            "chunk_size": CHUNK,
        },
    )
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            str(dispatch.pk),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"end-to-end run failed:\n{done.stdout}\n{done.stderr}")
    result = json.loads(lines[-1])
    if result["status"] != "succeeded":
        raise SystemExit(f"end-to-end run failed: {result['error']}")
    written = odbc.probe(datasource, f"SELECT COUNT(*) FROM {sink}").value
    assert written == rows, (written, rows)
    odbc.execute(datasource, f"DROP TABLE {sink}")
    return result


def child(dispatch_id: int, config: Path) -> None:
    setup_django(config, migrate=False)
    from dispatch import runner
    from dispatch.models import Dispatch
    from registry import services

    # Loading the model is paid once per cron run; it is reported apart.
    dispatch = Dispatch.objects.get(pk=dispatch_id)
    started = time.perf_counter()
    version = services.resolve(dispatch.model, dispatch.version_ref)
    services.predict(version, _one_row())
    load = time.perf_counter() - started
    cpu = cpu_seconds(dispatch.source_datasource)
    started = time.perf_counter()
    run = runner.run_scheduled(dispatch_id)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds(dispatch.source_datasource) - cpu
    print(
        json.dumps(
            {
                "status": run.status,
                "error": run.error,
                "rows": run.rows_written,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "load_seconds": load,
                "timings": run.timings,
                "maxrss_mb": peak_rss_mb(),
            }
        )
    )


def peak_rss_mb() -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec() from the
    # parent, which here holds a million rows.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _one_row():
    from mlframework.core import demo

    return demo.read_csv().drop(columns=["species"]).head(1)


# --------------------------------------------------------------------------
# (c) the hand-written script
# --------------------------------------------------------------------------


def handwritten(version, datasource: str, source: str, rows: int) -> float:
    import warnings

    import pandas as pd
    import pyodbc

    from mlframework.lib import odbc

    predictor = autogluon_predictor(version)  # a user's own TabularPredictor
    target = "bench_hand"
    odbc.execute(datasource, f"DROP TABLE IF EXISTS {target}")
    odbc.execute(
        datasource, f"CREATE TABLE {target} (id BIGINT, prediction VARCHAR(40))"
    )
    started = time.perf_counter()
    connection = pyodbc.connect(odbc.connection_string(datasource))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas prefers SQLAlchemy
        frame = pd.read_sql(f"SELECT * FROM {source} WHERE id <= {rows}", connection)
    predicted = predictor.predict(frame[version.feature_names()])
    cursor = connection.cursor()
    cursor.executemany(
        f"INSERT INTO {target} (id, prediction) VALUES (?, ?)",
        list(zip(frame["id"].tolist(), predicted.astype(str).tolist(), strict=True)),
    )
    connection.commit()
    seconds = time.perf_counter() - started
    connection.close()
    odbc.execute(datasource, f"DROP TABLE {target}")
    return seconds


# --------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--db", nargs="+", choices=DATASOURCES, default=list(DATASOURCES)
    )
    parser.add_argument("--model", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--handwritten-rows", type=int, default=100_000)
    parser.add_argument("--time-limit", type=int, default=60)
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds per configuration (median)"
    )
    parser.add_argument("--keep", action="store_true", help="keep data and MariaDB")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.config)
        return

    config = write_config()
    if "mariadb" in args.db:
        mariadb("up")
    try:
        setup_django(config, migrate=True)
        import pyarrow as pa

        versions = train_models(args.model, args.time_limit)
        results = []
        for db in args.db:
            datasource = DATASOURCES[db]
            for rows in args.rows:
                source = ensure_source(datasource, rows)
                for key in args.model:
                    version = versions[key]
                    rounds = []
                    for _ in range(args.repeats):
                        read_s, read_cpu, batches = stage_read(datasource, source)
                        frame = pa.Table.from_batches(batches).to_pandas()
                        del batches
                        predict_s, predict_cpu, predicted = stage_predict(
                            version, frame, compiled=False
                        )
                        native_s, native_cpu, native = stage_predict(
                            version, frame, compiled=True
                        )
                        differ = int((predicted.to_numpy() != native.to_numpy()).sum())
                        del native
                        write_s, write_cpu = stage_write(
                            datasource,
                            "bench_stage_write",
                            output_table(frame, predicted, version),
                        )
                        del frame, predicted
                        e2e = end_to_end(config, version, datasource, source, rows)
                        rounds.append(
                            (
                                e2e["seconds"],
                                read_s,
                                read_cpu,
                                predict_s,
                                predict_cpu,
                                write_s,
                                write_cpu,
                                e2e,
                                native_s,
                                native_cpu,
                                differ,
                            )
                        )
                    # Each figure is the median of its rounds.
                    read_s, read_cpu = _median(rounds, 1), _median(rounds, 2)
                    predict_s, predict_cpu = _median(rounds, 3), _median(rounds, 4)
                    write_s, write_cpu = _median(rounds, 5), _median(rounds, 6)
                    native_s, native_cpu = _median(rounds, 8), _median(rounds, 9)
                    e2e = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2][7]
                    hand_rows = min(rows, args.handwritten_rows)
                    hand_s = handwritten(version, datasource, source, hand_rows)
                    result = {
                        "db": db,
                        "rows": rows,
                        "model": key,
                        "read": rows / read_s,
                        "predict": rows / predict_s,
                        "native": rows / native_s,
                        "differ": max(r[10] for r in rounds),
                        "write": rows / write_s,
                        "e2e": rows / e2e["seconds"],
                        "e2e_seconds": e2e["seconds"],
                        "slowest_seconds": max(read_s, predict_s, write_s),
                        "slowest_native_seconds": max(read_s, native_s, write_s),
                        "stages_cpu": read_cpu + predict_cpu + write_cpu,
                        "stages_native_cpu": read_cpu + native_cpu + write_cpu,
                        "e2e_cpu": e2e["cpu_seconds"],
                        "e2e_rss_mb": e2e["maxrss_mb"],
                        "load": e2e["load_seconds"],
                        "hand": hand_rows / hand_s,
                        "hand_rows": hand_rows,
                    }
                    results.append(result)
                    report_line(result)
        report_goals(results)
    finally:
        if "mariadb" in args.db and not args.keep:
            mariadb("down")


def _median(rounds: list[tuple], index: int) -> float:
    return statistics.median(r[index] for r in rounds)


def report_line(r: dict) -> None:
    slowest = min(r["read"], r["predict"], r["write"])
    print(
        f"{r['db']:7} {r['rows']:>9,} {r['model']:7} rows/s: "
        f"read {r['read']:>9,.0f}  predict {r['predict']:>9,.0f} "
        f"(compiled {r['native']:>10,.0f}, {r['differ']} predictions differ)  "
        f"write {r['write']:>9,.0f} | end-to-end {r['e2e']:>9,.0f} "
        f"({r['e2e_seconds']:.1f} s, {r['e2e'] / slowest:.2f}x slowest stage, "
        f"peak RSS {r['e2e_rss_mb']:.0f} MB, model load {r['load']:.1f} s before) "
        f"| by hand {r['hand']:>8,.0f} "
        f"({r['hand_rows']:,} rows; end-to-end {r['e2e'] / r['hand']:.1f}x)\n"
        f"{'':26}CPU-seconds (this process + the database server): stages "
        f"alone {r['stages_cpu']:.2f} together ({r['stages_native_cpu']:.2f} with "
        f"the compiled predict), end-to-end {r['e2e_cpu']:.2f}; on {CORES} cores "
        f"at best {ceiling(r):.2f}x slowest stage",
        flush=True,
    )


def ceiling(r: dict) -> float:
    """The best overlap ratio this machine allows: even with no waiting and no
    overhead, the stages' CPU work as the platform does it (their CPU-seconds
    alone, the compiled predict, database server included) takes at least
    that divided by the cores."""
    floor = max(r["slowest_seconds"], r["stages_native_cpu"] / CORES)
    return r["slowest_seconds"] / floor


def report_goals(results: list[dict]) -> None:
    print("\ngoals")
    for r in results:
        slowest = min(r["read"], r["predict"], r["write"])
        ratio = r["e2e"] / slowest
        # The same against the stages with the platform's compiled predict:
        # never easier (that predict is faster, so its slowest stage is too).
        strict = r["e2e"] / min(r["read"], r["native"], r["write"])
        print(
            f"  overlap  {r['db']:7} {r['rows']:>9,} {r['model']:7} "
            f"end-to-end / slowest stage = {ratio:.2f} "
            f"{'ok' if ratio >= 0.8 else 'MISSED'} (goal >= 0.8; "
            f"at most {ceiling(r):.2f} on {CORES} cores; "
            f"{strict:.2f} against the compiled predict's stages)"
        )
    for r in results:
        if r["db"] == "mariadb" and r["model"] == "lgbm":
            ratio = r["e2e"] / r["hand"]
            print(
                f"  vs hand  mariadb {r['rows']:>9,} lgbm    end-to-end / by hand = "
                f"{ratio:.1f} {'ok' if ratio >= 5 else 'MISSED'} (goal >= 5)"
            )
    sizes = sorted({r["rows"] for r in results})
    if len(sizes) > 1:
        for db in sorted({r["db"] for r in results}):
            for model in sorted({r["model"] for r in results}):
                small = [
                    r
                    for r in results
                    if (r["db"], r["model"], r["rows"]) == (db, model, sizes[0])
                ]
                large = [
                    r
                    for r in results
                    if (r["db"], r["model"], r["rows"]) == (db, model, sizes[-1])
                ]
                if small and large:
                    ratio = large[0]["e2e_rss_mb"] / small[0]["e2e_rss_mb"]
                    print(
                        f"  memory   {db:7} {model:7} peak RSS {sizes[-1]:,} / "
                        f"{sizes[0]:,} rows = {ratio:.2f} "
                        f"{'ok' if ratio <= 1.25 else 'MISSED'} (goal <= 1.25)"
                    )


if __name__ == "__main__":
    main()
