"""Benchmark: retraining through a policy vs AutoGluon directly.

The rows live in a table of a SQLite ODBC datasource with a `day` column; the
training query is ``SELECT * FROM churn WHERE day <= :as_of``. As bench/train.py
does for training, in one run, alternating which goes first:

  direct  a user's script: the query's rows read with pyodbc + pandas, the
          same stratified 80/20 split, TabularPredictor.fit on the same
          settings (preset, time limit, seed), evaluate on the held-out rows
  policy  registry.retraining.trigger (a manual firing of the policy) and the
          tasks the worker runs for it, in this process: run_retrain (snapshot
          the query with :as_of bound, check, submit the job), jobs.run (the
          training), then compare (the champion re-scored on the new held-out
          rows, registry.challengers.propose)

"policy" is timed from the trigger to the version being usable (the job's
`finished`, as in bench/train.py); the comparison and the analysis that follow
are printed apart. The champion is trained first with fast settings; the
policy's overrides give the retrain the benchmark's preset and time limit.

    .venv/bin/python bench/retrain.py [--rows 20000] [--time-limit 60] [--repeats 2]
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
from train import make_data  # noqa: E402 (bench/train.py's data, same seed)

LABEL = "churned"
QUERY = "SELECT * FROM churn WHERE day <= :as_of"
AS_OF = "2026-12-01"


def load_source(frame) -> None:
    import pyarrow as pa

    from mlframework.lib import odbc

    frame = frame.copy()
    # Every row is before AS_OF: the query returns them all.
    frame["day"] = [f"2026-{i % 11 + 1:02d}-01" for i in range(len(frame))]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    odbc.create_table("bench", "churn", table.schema)
    odbc.write_table("bench", "churn", table)


def direct(*, preset, time_limit, seed, folder):
    import pandas as pd
    import pyodbc
    from autogluon.tabular import TabularPredictor
    from sklearn.model_selection import train_test_split

    from mlframework.lib import odbc

    started = time.perf_counter()
    with pyodbc.connect(odbc.connection_string("bench")) as connection:
        cursor = connection.execute(QUERY.replace(":as_of", "?"), AS_OF)
        names = [c[0] for c in cursor.description]
        frame = pd.DataFrame.from_records(cursor.fetchall(), columns=names)
    frame = frame.drop(columns=["day"])
    train, test = train_test_split(
        frame, test_size=0.2, random_state=seed, stratify=frame[LABEL]
    )
    fit_started = time.perf_counter()
    predictor = TabularPredictor(label=LABEL, path=str(folder), verbosity=0).fit(
        train, presets=preset, time_limit=time_limit, ag_args_fit={"random_seed": seed}
    )
    fit_seconds = time.perf_counter() - fit_started
    scores = predictor.evaluate(test, silent=True)
    return time.perf_counter() - started, scores["accuracy"], len(test), fit_seconds


def champion():
    from registry import jobs, snapshots
    from registry.training import TrainOptions

    dataset, _ = snapshots.snapshot_query(
        "bench", QUERY, params={"as_of": AS_OF}, name="churn"
    )
    options = TrainOptions(
        label=LABEL, excluded=["day"], fast=True, time_limit=30, alias="production"
    )
    job = jobs.submit(dataset, "churn", options)
    if jobs.run(job.pk) != "succeeded":
        job.refresh_from_db()
        raise SystemExit(f"champion training failed: {job.error}")
    job.refresh_from_db()
    return job.version


def through_policy(policy, when):
    from registry import jobs, retraining

    started, wall = time.perf_counter(), time.time()
    fired = retraining.trigger(policy, "manual", scheduled_for=when)
    if not fired.queued:
        raise SystemExit(f"retrain skipped: {fired.run.reason}")
    state = retraining.run(fired.run.pk)
    run = type(fired.run).objects.get(pk=fired.run.pk)
    if state != "training":
        raise SystemExit(f"retrain run {state}: {run.error}")
    snapshot = time.perf_counter() - started
    jobs.run(run.job_id)  # training_finished moves the run to comparing
    trained = time.perf_counter()
    retraining.compare(run.pk)
    compared = time.perf_counter() - trained
    run.refresh_from_db()
    if run.state != "done":
        raise SystemExit(f"retrain run {run.state}: {run.error}")
    ready = run.job.finished.timestamp() - wall
    version = run.version
    return ready, version, snapshot, compared, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--time-limit", type=int, default=60)
    parser.add_argument("--preset", default="medium_quality")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlf-bench-retrain-") as tmp:
        var = Path(tmp)
        throwaway.configure(
            var,
            datasources={
                "bench": {
                    "connection": f"DRIVER={{SQLite3}};Database={var}/source.sqlite3"
                }
            },
            training={"max_time_limit": 3600},
        )
        from django.utils import timezone

        from registry.models import RetrainPolicy

        frame = make_data(args.rows, var / "churn.csv")
        load_source(frame)
        first = champion()
        policy = RetrainPolicy.objects.create(
            model=first.model,
            name="bench",
            trigger="manual",
            min_interval_minutes=0,
            overrides={
                "fast": False,
                "preset": args.preset,
                "time_limit": args.time_limit,
            },
        )
        when = timezone.make_aware(timezone.datetime.fromisoformat(AS_OF))
        print(
            f"{args.rows} rows x {frame.shape[1] - 1} features from {QUERY!r} "
            f"(as_of {AS_OF}), binary label; preset {args.preset}, time limit "
            f"{args.time_limit} s, {args.repeats} repeat(s), alternating; "
            f"champion v{first.number} (fast LightGBM)"
        )
        # Warm-up: imports and first-call costs are paid before timing.
        direct(preset=args.preset, time_limit=5, seed=0, folder=var / "warm-up")
        direct_runs, policy_runs = [], []
        for repeat in range(args.repeats):
            order = ("direct", "policy") if repeat % 2 == 0 else ("policy", "direct")
            for which in order:
                if which == "direct":
                    seconds, accuracy, test_rows, fit = direct(
                        preset=args.preset,
                        time_limit=args.time_limit,
                        seed=0,
                        folder=var / f"direct-{repeat}",
                    )
                    direct_runs.append((seconds, accuracy, fit))
                    print(
                        f"run {repeat + 1} direct  {seconds:7.2f} s"
                        f"  accuracy {accuracy:.4f}  (fit {fit:.2f} s)"
                    )
                    continue
                seconds, version, snapshot, compared, run = through_policy(policy, when)
                lineage = version.lineage
                accuracy = version.scores["accuracy"]
                policy_runs.append((seconds, accuracy, lineage.fit_seconds))
                print(
                    f"run {repeat + 1} policy  {seconds:7.2f} s"
                    f"  accuracy {accuracy:.4f}  (fit {lineage.fit_seconds:.2f} s,"
                    f" snapshot+check+submit {snapshot:.2f} s; v{version.number},"
                    f" then compared with v{run.champion.number} in {compared:.2f} s:"
                    f" challenge {run.challenge_id} {run.outcome})"
                )
        d_time = statistics.median(s for s, _, _ in direct_runs)
        p_time = statistics.median(s for s, _, _ in policy_runs)
        d_acc = statistics.median(a for _, a, _ in direct_runs)
        p_acc = statistics.median(a for _, a, _ in policy_runs)
        noise = (d_acc * (1 - d_acc) / test_rows) ** 0.5
        print(
            f"held-out accuracy: direct {d_acc:.4f}, policy {p_acc:.4f}, "
            f"difference {p_acc - d_acc:+.4f} (one standard error: {noise:.4f}, "
            f"{abs(p_acc - d_acc) / noise:.1f} SE)"
        )
        print(
            f"wall time (median): direct {d_time:.2f} s, policy {p_time:.2f} s, "
            f"overhead {100 * (p_time / d_time - 1):+.1f} % "
            f"(ratio {p_time / d_time:.3f})"
        )
        # Each repeat's pair ran back to back: its ratio is the least noisy.
        paired = [p[0] / d[0] for d, p in zip(direct_runs, policy_runs, strict=True)]
        print(
            "paired ratios (policy / direct, per repeat): "
            + ", ".join(f"{r:.3f}" for r in paired)
            + f"; median {statistics.median(paired):.3f}"
            f" (overhead {100 * (statistics.median(paired) - 1):+.1f} %)"
        )
        d_extra = statistics.median(s - f for s, _, f in direct_runs)
        p_extra = statistics.median(s - f for s, _, f in policy_runs)
        d_fit = statistics.median(f for _, _, f in direct_runs)
        print(
            f"time around the fit (median): direct {d_extra:.2f} s, policy "
            f"{p_extra:.2f} s; the policy's extra {p_extra - d_extra:.2f} s = "
            f"{100 * (p_extra - d_extra) / d_fit:.1f} % of the median fit "
            f"({d_fit:.2f} s)"
        )


if __name__ == "__main__":
    main()
