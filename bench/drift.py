"""Drift benchmark: monitoring's cost in a dispatch, and the saved reference vs
Evidently's DataDriftPreset on the same data.

    .venv/bin/python bench/drift.py                          # everything
    .venv/bin/python bench/drift.py --rows 100000 --columns 10 --repeats 2

(a) A dispatch of --rows rows (the penguins tiled, SQLite source and sink, the
    tiny LightGBM model of bench/dispatch.py, whose helpers are reused) through
    the real runner (runner.run_scheduled, in a child process, as there) with
    drift monitoring on (ModelMonitoring.drift_enabled) and off, alternating
    which goes first, --repeats pairs; wall time medians. Goal: overhead <= 5 %.
(b) Drift of --rows current rows x --columns columns (4/5 numeric, 1/5
    categorical, some shifted) against a reference saved from
    --reference-rows rows (registry.drift_reference.build, through its JSON):
    DriftAccumulator fed in 10,000-row batches + report() vs Evidently's
    Report([DataDriftPreset()]) on the same reference and current frames.
    Each side runs in its own child process; its peak RSS (VmHWM) is printed
    with what the process held before the drift started. Only the drift is
    timed: our side's add() calls and report(), Evidently's Dataset.from_pandas
    and Report.run; not making the data, nor building the reference (printed
    apart). Goal: >= 20x faster.
(c) Per-feature drifted flags of (b) against Evidently's: goal >= 98 % equal;
    every disagreement printed with both scores and why.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FOLDER = Path("/tmp/mlframework-bench/drift")
BATCH = 10_000  # the dispatch default chunk
SEED = 15

# bench/dispatch.py's set-up (config, Django, the tiny model, the source,
# the runner in a child); loaded by path: as "dispatch" it would shadow the app.
_spec = importlib.util.spec_from_file_location(
    "bench_dispatch", ROOT / "bench" / "dispatch.py"
)
bench_dispatch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_dispatch)
bench_dispatch.FOLDER = FOLDER


# --------------------------------------------------------------------------
# (a) a dispatch with drift monitoring on vs off
# --------------------------------------------------------------------------


_READY: list[Path] = []


def django_ready(*, migrate: bool = True, config: Path | None = None) -> Path:
    """Django on the throwaway installation, set up once per process."""
    if not _READY:
        config = config or bench_dispatch.write_config()
        bench_dispatch.setup_django(config, migrate=migrate)
        _READY.append(config)
    return _READY[0]


def dispatch_overhead(args) -> dict:
    config = django_ready()
    from monitor.models import DriftState, ModelMonitoring, RunDrift
    from registry import drift_reference, training

    version = bench_dispatch.train_models(["lgbm"], args.time_limit)["lgbm"]
    if not drift_reference.for_version(version).ok:
        reference = training.rebuild_drift_reference(version)
        print(f"  drift reference of {version} rebuilt: {reference.state or 'ok'}")
    source = bench_dispatch.ensure_source("bench_sqlite", args.rows)
    seconds: dict[bool, list[float]] = {True: [], False: []}
    drift_seconds, rss = [], {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(args.repeats):
        # Alternate which goes first, so a busy spell weighs on both alike.
        for enabled in (True, False) if round_ % 2 == 0 else (False, True):
            ModelMonitoring.objects.update_or_create(
                model=version.model, defaults={"drift_enabled": enabled}
            )
            before = RunDrift.objects.order_by("-id").values_list("id", flat=True)
            last = before.first() or 0
            result = bench_dispatch.end_to_end(
                config, version, "bench_sqlite", source, args.rows
            )
            seconds[enabled].append(result["seconds"])
            rss[enabled].append(result["maxrss_mb"])
            cpu[enabled].append(result["cpu_seconds"])
            found = RunDrift.objects.filter(id__gt=last).get()
            if enabled:
                assert found.state == DriftState.CHECKED, found.reason
                assert found.rows == args.rows, found.rows
                drift_seconds.append(result["timings"].get("drift", 0.0))
            else:
                assert found.state == DriftState.UNCHECKED, found.state
            print(
                f"  round {round_ + 1} drift {'on ' if enabled else 'off'} "
                f"{result['seconds']:6.2f} s, {result['cpu_seconds']:6.2f} CPU-s, "
                f"load {_load()}"
                + (
                    f"  (drift inside the predict stage {drift_seconds[-1]:.2f} s, "
                    f"{found.state}, {len(found.drifted)} drifted)"
                    if enabled
                    else ""
                ),
                flush=True,
            )
    on, off = statistics.median(seconds[True]), statistics.median(seconds[False])
    return {
        "rows": args.rows,
        "repeats": args.repeats,
        "features": len(version.features),
        "on": on,
        "off": off,
        "paired": statistics.median(
            a / b for a, b in zip(seconds[True], seconds[False], strict=True)
        ),
        "drift_seconds": statistics.median(drift_seconds),
        "cpu_on": statistics.median(cpu[True]),
        "cpu_off": statistics.median(cpu[False]),
        "rss_on": statistics.median(rss[True]),
        "rss_off": statistics.median(rss[False]),
    }


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def print_overhead(r: dict) -> None:
    overhead = r["on"] / r["off"] - 1
    print(
        f"(a) dispatch of {r['rows']:,} rows x {r['features']} features, "
        f"median of {r['repeats']} runs each: drift off {r['off']:.2f} s, "
        f"on {r['on']:.2f} s"
        f" -> overhead {overhead:+.1%} (median of paired ratios "
        f"{r['paired'] - 1:+.1%}); drift's own time in the predict stage "
        f"{r['drift_seconds']:.2f} s ({r['drift_seconds'] / r['off']:.1%} of the "
        f"run); peak RSS off {r['rss_off']:.0f} MB, on {r['rss_on']:.0f} MB"
    )
    print(
        f"    CPU-seconds of the run (all its threads), median: off "
        f"{r['cpu_off']:.2f}, on {r['cpu_on']:.2f} -> "
        f"{r['cpu_on'] / r['cpu_off'] - 1:+.1%}"
    )
    print(
        f"    goal overhead <= 5 %: {overhead:+.1%} "
        f"{'ok' if overhead <= 0.05 else 'MISSED'}"
    )


# --------------------------------------------------------------------------
# (b) the data: --columns columns, 4/5 numeric, made the same in every process
# --------------------------------------------------------------------------

# Numeric: (distribution, shift in reference standard deviations).
# 0.095, 0.1 and 0.105 land near the 0.1 distance threshold, where a flag can
# flip on small differences in binning or sampling.
NUMERIC_SHIFTS = (0.0, 0.095, 0.03, 0.1, 0.2, 0.5, 0.105, 1.0)
NUMERIC_KINDS = ("normal", "lognormal", "uniform", "few", "integers")
# Categorical: (categories, how the current shares move).
CATEGORICAL = (
    (3, "same"),
    (8, "reweighted"),
    (30, "same"),
    (150, "same"),  # beyond the reference's 100 top categories: a tail
    (2, "reweighted"),
    (12, "new category"),
    (50, "slightly"),
    (5, "same"),
)


def columns_of(count: int) -> list[dict]:
    numeric = count * 4 // 5
    specs = []
    for i in range(numeric):
        specs.append(
            {
                "name": f"n{i:02d}",
                "kind": NUMERIC_KINDS[i % len(NUMERIC_KINDS)],
                "shift": NUMERIC_SHIFTS[i % len(NUMERIC_SHIFTS)],
                "missing": 0.05 if i % 3 == 0 else 0.0,
            }
        )
    for j in range(count - numeric):
        size, how = CATEGORICAL[j % len(CATEGORICAL)]
        specs.append(
            {"name": f"c{j:02d}", "kind": "categorical", "size": size, "how": how}
        )
    return specs


def _numeric(spec: dict, rng, rows: int, current: bool) -> np.ndarray:
    shift = spec["shift"] if current else 0.0
    kind = spec["kind"]
    if kind == "normal":
        values = rng.normal(50 + 10 * shift, 10, rows)
    elif kind == "lognormal":
        values = rng.lognormal(3 + shift, 0.8, rows)
    elif kind == "uniform":
        values = rng.uniform(0, 1, rows) + shift * 0.2887  # std of U(0, 1)
    elif kind == "few":  # 4 values: Evidently takes it by counts
        p = np.array([0.4, 0.3, 0.2, 0.1]) + shift * np.array([-0.1, 0, 0.05, 0.05])
        values = rng.choice([0.0, 1.0, 2.0, 3.0], rows, p=p / p.sum())
    else:  # ages
        values = np.round(rng.normal(45 + 15 * shift, 15, rows)).clip(18, 95)
    if spec["missing"]:
        values[rng.random(rows) < spec["missing"]] = np.nan
    return values


def _categories(spec: dict) -> list[str]:
    names = [f"{spec['name']}_{k}" for k in range(spec["size"])]
    return names + ([f"{spec['name']}_new"] if spec["how"] == "new category" else [])


def _shares(spec: dict, current: bool) -> np.ndarray:
    weights = 1.0 / np.arange(1, spec["size"] + 1)  # Zipf-like
    how = spec["how"] if current else "same"
    if how == "reweighted":
        weights = weights[::-1].copy()
    elif how == "slightly":
        weights = weights * (1 + 0.05 * np.cos(np.arange(spec["size"])))
    if spec["how"] == "new category":  # a category the reference never had
        weights = np.append(weights, weights.sum() * 0.3 if current else 0.0)
    return weights / weights.sum()


def frame_of(specs: list[dict], rows: int, seed: list[int], current: bool):
    """One frame; categorical columns as pandas categoricals, as the dispatch's
    predict_batch hands them to the hook (Arrow dictionary-encoded text)."""
    rng = np.random.default_rng(seed)
    data = {}
    for spec in specs:
        if spec["kind"] == "categorical":
            names = _categories(spec)
            codes = rng.choice(len(names), rows, p=_shares(spec, current))
            data[spec["name"]] = pd.Categorical.from_codes(codes, categories=names)
        else:
            data[spec["name"]] = _numeric(spec, rng, rows, current)
    return pd.DataFrame(data)


def reference_frame(specs, rows):
    return frame_of(specs, rows, [SEED, 0], current=False)


def current_batches(specs, rows):
    for number, start in enumerate(range(0, rows, BATCH)):
        yield frame_of(specs, min(BATCH, rows - start), [SEED, 1, number], True)


# --------------------------------------------------------------------------
# (b) each side in its own process
# --------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return bench_dispatch.peak_rss_mb()


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_ours(job: dict) -> dict:
    django_ready(migrate=False, config=Path(job["config"]))
    from monitor.drift.accumulator import DriftAccumulator
    from registry.drift_reference import Reference

    specs = columns_of(job["columns"])
    reference = Reference.from_json(json.loads(Path(job["reference"]).read_text()))
    accumulator = DriftAccumulator(reference)
    held = current_rss_mb()
    seconds = 0.0
    for batch in current_batches(specs, job["rows"]):
        started = time.perf_counter()
        accumulator.add(batch)
        seconds += time.perf_counter() - started
    started = time.perf_counter()
    report = accumulator.report()
    seconds += time.perf_counter() - started
    return {
        "seconds": seconds,
        "report_seconds": time.perf_counter() - started,
        "rss_before": held,
        "peak_rss": peak_rss_mb(),
        "features": {
            f.name: {
                "method": f.method,
                "score": f.score,
                "drifted": bool(f.drifted),
                "threshold": f.threshold,
                "state": f.state,
            }
            for f in report.features
        },
        "drift_share": report.drift_share,
    }


def child_evidently(job: dict) -> dict:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    specs = columns_of(job["columns"])
    # The same values; text as plain strings, as a user's CSV gives them.
    reference = _as_text(reference_frame(specs, job["reference_rows"]), specs)
    current = _as_text(
        pd.concat(list(current_batches(specs, job["rows"])), ignore_index=True), specs
    )
    definition = DataDefinition(
        numerical_columns=[s["name"] for s in specs if s["kind"] != "categorical"],
        categorical_columns=[s["name"] for s in specs if s["kind"] == "categorical"],
    )
    held = current_rss_mb()
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
    seconds = time.perf_counter() - started
    features, share = {}, None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if metric["metric_name"].startswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
        elif metric["metric_name"].startswith("ValueDrift"):
            method, threshold = config["method"], config["threshold"]
            score = float(metric["value"])
            features[config["column"]] = {
                "method": method,
                "score": score,
                "threshold": threshold,
                "drifted": _evidently_drifted(method, score, threshold),
            }
    return {
        "seconds": seconds,
        "rss_before": held,
        "peak_rss": peak_rss_mb(),
        "features": features,
        "drift_share": share,
    }


def _as_text(frame: pd.DataFrame, specs) -> pd.DataFrame:
    for spec in specs:
        if spec["kind"] == "categorical":
            frame[spec["name"]] = frame[spec["name"]].astype(str).astype(object)
    return frame


def _evidently_drifted(method: str, score: float, threshold: float) -> bool:
    """Evidently's comparison (stattests): p-values drift below the threshold
    (KS at or below), distances at or above it."""
    name = method.lower()
    if "k-s" in name or "kolmogorov" in name:
        return score <= threshold
    if "p_value" in name or "chi-square" in name or "z-test" in name:
        return score < threshold
    return score >= threshold


def run_child(side: str, job: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", side, "--job", json.dumps(job)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{side} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def versus_evidently(args) -> tuple[dict, dict, list[dict]]:
    config = django_ready()
    from registry import drift_reference, profiling
    from registry.contracts import FeatureSchema

    FOLDER.mkdir(parents=True, exist_ok=True)
    specs = columns_of(args.columns)
    frame = reference_frame(specs, args.reference_rows)
    started = time.perf_counter()
    schema = FeatureSchema.from_json(profiling.feature_schema(frame))
    reference = drift_reference.build(frame, None, schema=schema, problem_type="")
    built = time.perf_counter() - started
    path = FOLDER / "reference.json"
    text = json.dumps(reference.to_json())
    path.write_text(text)
    print(
        f"  reference of {args.reference_rows:,} rows x {args.columns} columns "
        f"built in {built:.1f} s ({len(text) / 1e6:.1f} MB of JSON)",
        flush=True,
    )
    job = {
        "columns": args.columns,
        "rows": args.rows,
        "reference_rows": args.reference_rows,
        "reference": str(path),
        "config": str(config),
    }
    ours = run_child("ours", job)
    print(f"  ours      {ours['seconds']:7.1f} s", flush=True)
    theirs = run_child("evidently", job)
    print(f"  evidently {theirs['seconds']:7.1f} s", flush=True)
    return ours, theirs, specs


def print_versus(args, ours: dict, theirs: dict, specs: list[dict]) -> None:
    ratio = theirs["seconds"] / ours["seconds"]
    numeric = sum(s["kind"] != "categorical" for s in specs)
    shifted = sum(
        s.get("shift", 0) > 0 or s.get("how", "same") != "same" for s in specs
    )
    print(
        f"(b) drift of {args.rows:,} current rows x {len(specs)} columns "
        f"({numeric} numeric, {len(specs) - numeric} categorical, {shifted} shifted) "
        f"against {args.reference_rows:,} reference rows, each side in its own "
        "process (peak RSS = VmHWM; 'before' = the process before the drift: "
        "Python, libraries, the data it holds)"
    )
    print(
        f"    ours (saved reference, {BATCH:,}-row batches + report) "
        f"{ours['seconds']:8.2f} s  peak RSS {ours['peak_rss']:6.0f} MB "
        f"(before {ours['rss_before']:.0f} MB; only one batch in memory at a time)"
    )
    print(
        f"    Evidently 0.7 Report([DataDriftPreset()])       "
        f"{theirs['seconds']:8.2f} s  peak RSS {theirs['peak_rss']:6.0f} MB "
        f"(before {theirs['rss_before']:.0f} MB; holds both frames)"
    )
    print(
        f"    drift share: ours {ours['drift_share']:.2f}, Evidently "
        f"{theirs['drift_share']:.2f}"
    )
    print(f"    goal >= 20x faster: {ratio:.1f}x {'ok' if ratio >= 20 else 'MISSED'}")


def agreement(ours: dict, theirs: dict, specs: list[dict]) -> None:
    by_name = {s["name"]: s for s in specs}
    names = list(theirs["features"])
    differ = [
        n
        for n in names
        if ours["features"][n]["drifted"] != theirs["features"][n]["drifted"]
    ]
    same = len(names) - len(differ)
    share = same / len(names)
    methods_differ = [
        n
        for n in names
        if not _same_method(
            ours["features"][n]["method"], theirs["features"][n]["method"]
        )
    ]
    print(
        f"(c) agreement with Evidently: {same} of {len(names)} features have the "
        f"same drifted flag ({share:.1%}); methods differ on {len(methods_differ)}"
    )
    for name in names:
        mine, their = ours["features"][name], theirs["features"][name]
        delta = (
            abs(mine["score"] - their["score"]) if mine["score"] is not None else None
        )
        flag = "DIFFERS" if name in differ else ""
        print(
            f"    {name} {_describe(by_name[name]):32} ours {mine['method']:>13} "
            f"{_score(mine['score'])} {'drift' if mine['drifted'] else '-':5} "
            f"Evidently {_short(their['method']):>13} {_score(their['score'])} "
            f"{'drift' if their['drifted'] else '-':5} |diff| {_score(delta)} {flag}"
        )
    for name in differ:
        print(f"    disagreement {name}: {_reason(by_name[name], ours, theirs)}")
    print(
        f"    goal >= 98 % equal flags: {share:.1%} "
        f"{'ok' if share >= 0.98 else 'MISSED'}"
    )


def _describe(spec: dict) -> str:
    if spec["kind"] == "categorical":
        return f"categorical {spec['size']} values, {spec['how']}"
    missing = f", {spec['missing']:.0%} missing" if spec["missing"] else ""
    return f"{spec['kind']} shift {spec['shift']}{missing}"


def _score(value) -> str:
    return f"{value:10.6f}" if value is not None else f"{'-':>10}"


SHORT = {
    "wasserstein distance (normed)": "wasserstein",
    "jensen-shannon distance": "jensenshannon",
    "k-s p_value": "ks",
    "chi-square p_value": "chisquare",
    "z-test p_value": "z",
    "psi": "psi",
}


def _short(method: str) -> str:
    return SHORT.get(method.lower(), method)


def _same_method(ours: str, theirs: str) -> bool:
    return ours == _short(theirs)


def _reason(spec: dict, ours: dict, theirs: dict) -> str:
    mine, their = ours["features"][spec["name"]], theirs["features"][spec["name"]]
    if not _same_method(mine["method"], their["method"]):
        return f"different methods ({mine['method']} vs {their['method']})"
    close = min(
        abs(mine["score"] - mine["threshold"]), abs(their["score"] - mine["threshold"])
    )
    if spec["kind"] == "categorical" and spec["size"] > 100:
        why = (
            "the reference keeps its top 100 categories and groups the tail "
            "(TOP_CATEGORIES); Evidently compares every category"
        )
    elif mine["method"] == "wasserstein":
        why = (
            "Wasserstein against the reference's 5,000 saved quantiles and the "
            "current's counts between them, vs Evidently on all raw values"
        )
    else:
        why = "the saved reference's counts vs Evidently's raw columns"
    return f"{why}; both scores within {close:.4f} of the threshold {mine['threshold']}"


# --------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="(a) and (b)")
    parser.add_argument("--columns", type=int, default=50, help="(b)")
    parser.add_argument("--reference-rows", type=int, default=100_000, help="(b)")
    parser.add_argument("--repeats", type=int, default=5, help="(a): on/off pairs")
    parser.add_argument("--time-limit", type=int, default=60, help="(a): training")
    parser.add_argument(
        "--only", choices=("dispatch", "evidently"), help="run (a) or (b)+(c) alone"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child in ("ours", "evidently"):
        job = json.loads(args.job)
        found = (child_ours if args.child == "ours" else child_evidently)(job)
        print(json.dumps(found))
        return

    print(f"load average {_load()}")
    overhead = versus = None
    if args.only != "evidently":
        overhead = dispatch_overhead(args)
    if args.only != "dispatch":
        versus = versus_evidently(args)
    print(f"load average {_load()}")
    if overhead:
        print_overhead(overhead)
    if versus:
        print_versus(args, *versus)
        agreement(*versus)


if __name__ == "__main__":
    main()
