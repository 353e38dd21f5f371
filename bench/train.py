"""Benchmark: training directly with AutoGluon vs through the platform.

The same data (synthetic, seeded), the same stratified 80/20 split and the
same settings (preset, time limit, seed), in one run, alternating:

  direct    TabularPredictor(...).fit(train) + evaluate(test), as a user's
            script would do it
  platform  registry.jobs.submit + registry.jobs.run (what the db_worker runs:
            read the stored dataset, validate, split, fit, score, leaderboard,
            permutation importance, latency, manifest, version rows, events)

Prints the held-out scores (with the binomial standard error as the noise
level) and the wall-time overhead of the platform over the direct run.

    .venv/bin/python bench/train.py [--rows 20000] [--time-limit 60] [--repeats 2]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import throwaway  # noqa: E402 (bench/throwaway.py)


def make_data(rows: int, path: Path):
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    features, label = make_classification(
        n_samples=rows,
        n_features=16,
        n_informative=8,
        n_redundant=2,
        n_classes=2,
        flip_y=0.05,
        random_state=0,
    )
    frame = pd.DataFrame(features, columns=[f"x{i}" for i in range(16)])
    rng = np.random.default_rng(0)
    frame["region"] = rng.choice(["north", "south", "east", "west"], size=rows)
    frame["plan"] = np.where(frame["x0"] > 0, "gold", "basic")
    frame["churned"] = np.where(label == 1, "yes", "no")
    frame.to_csv(path, index=False)
    return frame


def direct(frame, *, label, preset, time_limit, seed, folder):
    from autogluon.tabular import TabularPredictor
    from sklearn.model_selection import train_test_split

    started = time.perf_counter()
    train, test = train_test_split(
        frame, test_size=0.2, random_state=seed, stratify=frame[label]
    )
    fit_started = time.perf_counter()
    predictor = TabularPredictor(label=label, path=str(folder), verbosity=0).fit(
        train, presets=preset, time_limit=time_limit, ag_args_fit={"random_seed": seed}
    )
    fit_seconds = time.perf_counter() - fit_started
    scores = predictor.evaluate(test, silent=True)
    return time.perf_counter() - started, scores["accuracy"], len(test), fit_seconds


def platform(dataset, *, label, preset, time_limit, seed, name):
    from registry import jobs
    from registry.training import TrainOptions

    started, wall = time.perf_counter(), time.time()
    job = jobs.submit(
        dataset,
        name,
        TrainOptions(label=label, preset=preset, time_limit=time_limit, seed=seed),
    )
    status = jobs.run(job.pk)
    total = time.perf_counter() - started
    job.refresh_from_db()
    if status != "succeeded":
        raise SystemExit(f"platform training {status}: {job.error}")
    # Ready = the job finished and the version can predict; the analysis
    # (every model's held-out score, importance, latency) follows in the task.
    ready = job.finished.timestamp() - wall
    version = job.version
    if version.analysis != "done":
        raise SystemExit(f"analysis {version.analysis}: {version.analysis_error}")
    return ready, version.scores["accuracy"], version.lineage.to_json(), total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--time-limit", type=int, default=60)
    parser.add_argument("--preset", default="medium_quality")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlf-bench-train-") as tmp:
        var = Path(tmp)
        throwaway.configure(var, training={"max_time_limit": 3600})
        from registry import datasets

        csv = var / "churn.csv"
        frame = make_data(args.rows, csv)
        dataset, _ = datasets.store_file(csv, name="churn")
        print(
            f"{args.rows} rows x {frame.shape[1] - 1} features, binary label; "
            f"preset {args.preset}, time limit {args.time_limit} s, "
            f"{args.repeats} repeat(s), alternating"
        )
        # Warm-up: imports and first-call costs are paid before timing.
        direct(
            frame.head(400),
            label="churned",
            preset=args.preset,
            time_limit=args.time_limit,
            seed=0,
            folder=var / "warm-up",
        )
        direct_runs, platform_runs, totals = [], [], []
        for repeat in range(args.repeats):
            # Alternate which goes first, so warm caches favour neither.
            order = (
                ("direct", "platform") if repeat % 2 == 0 else ("platform", "direct")
            )
            for which in order:
                if which == "direct":
                    seconds, accuracy, test_rows, fit = direct(
                        frame,
                        label="churned",
                        preset=args.preset,
                        time_limit=args.time_limit,
                        seed=0,
                        folder=var / f"direct-{repeat}",
                    )
                    direct_runs.append((seconds, accuracy, fit))
                    print(
                        f"run {repeat + 1} direct    {seconds:7.2f} s"
                        f"  accuracy {accuracy:.4f}  (fit {fit:.2f} s)"
                    )
                    continue
                seconds, accuracy, lineage, total = platform(
                    dataset,
                    label="churned",
                    preset=args.preset,
                    time_limit=args.time_limit,
                    seed=0,
                    name="churn",
                )
                platform_runs.append((seconds, accuracy, lineage))
                totals.append(total)
                print(
                    f"run {repeat + 1} platform  {seconds:7.2f} s"
                    f"  accuracy {accuracy:.4f}"
                    f"  (fit {lineage['fit_seconds']:.2f} s,"
                    f" {lineage['models_trained']} models,"
                    f" latency {lineage['latency_ms']:.2f} ms/row,"
                    f" {lineage['rows_per_second']:.0f} rows/s)"
                )
                print(
                    "           stages until ready: "
                    + ", ".join(
                        f"{k} {v:.2f}" for k, v in lineage["stage_seconds"].items()
                    )
                )
                print(
                    "           then the analysis, version already usable: "
                    + ", ".join(
                        f"{k} {v:.2f}" for k, v in lineage["analysis_seconds"].items()
                    )
                    + f" (task done {total:.2f} s after submit)"
                )
        d_time = statistics.median(s for s, _, _ in direct_runs)
        p_time = statistics.median(s for s, _, _ in platform_runs)
        d_acc = statistics.median(a for _, a, _ in direct_runs)
        p_acc = statistics.median(a for _, a, _ in platform_runs)
        noise = (d_acc * (1 - d_acc) / test_rows) ** 0.5
        print(
            f"held-out accuracy: direct {d_acc:.4f}, platform {p_acc:.4f}, "
            f"difference {p_acc - d_acc:+.4f} (one standard error: {noise:.4f}, "
            f"{abs(p_acc - d_acc) / noise:.1f} SE)"
        )
        print(
            f"wall time (median): direct {d_time:.2f} s, platform {p_time:.2f} s, "
            f"overhead {100 * (p_time / d_time - 1):+.1f} % "
            f"(ratio {p_time / d_time:.3f})"
        )
        total = statistics.median(totals)
        print(
            f"the whole task, analysis included (median): {total:.2f} s, "
            f"{100 * (total / d_time - 1):+.1f} % over direct (the version is "
            "usable from the first figure on)"
        )
        # AutoGluon's fit fills the time limit and swings with the machine's
        # load; the work around it does not. Per run: everything but the fit.
        d_extra = statistics.median(s - f for s, _, f in direct_runs)
        p_extra = statistics.median(
            s - lin["fit_seconds"] for s, _, lin in platform_runs
        )
        d_fit = statistics.median(f for _, _, f in direct_runs)
        print(
            f"time around the fit (median): direct {d_extra:.2f} s, platform "
            f"{p_extra:.2f} s; the platform's extra {p_extra - d_extra:.2f} s = "
            f"{100 * (p_extra - d_extra) / d_fit:.1f} % of the median fit "
            f"({d_fit:.2f} s)"
        )


if __name__ == "__main__":
    main()
