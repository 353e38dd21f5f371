"""registry.fairness: every figure against Fairlearn and SageMaker Clarify's
formulas on fixed data (to 1e-9), the bootstrap, small groups, binning, and
the reports of real versions."""

import json
import time

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import (
    accuracy_score,
    mean_absolute_error,
    precision_score,
    recall_score,
    root_mean_squared_error,
)

from mlframework.core import demo
from registry import datasets, fairness, fairness_jobs, services, training
from registry.errors import FairnessError, TrainingRefused
from registry.fairness import FairnessReport, measure
from registry.models import VersionFairness
from registry.templatetags.registry_tags import interval
from registry.tests.helpers import train_tiny
from registry.training import TrainOptions

pytestmark = pytest.mark.django_db(databases=["default", "events"])

TOLERANCE = 1e-9


def _fixed_binary(n=2000, seed=7):
    """Three groups of different base and error rates, one of them small."""
    rng = np.random.default_rng(seed)
    group = rng.choice(
        ["north", "south", "west", "tiny"], n, p=[0.45, 0.35, 0.19, 0.01]
    )
    truth = rng.random(n) < np.select(
        [group == "north", group == "south"], [0.5, 0.3], 0.4
    )
    hit = np.select([group == "north", group == "south"], [0.85, 0.7], 0.75)
    predicted = np.where(rng.random(n) < hit, truth, ~truth)
    return truth, predicted, group


def _large(group, minimum=fairness.MIN_GROUP_ROWS):
    names, counts = np.unique(group, return_counts=True)
    return np.isin(group, names[counts >= minimum])


def _slice(report, column=None, number=0):
    column = report.columns[0] if column is None else report.column(column)
    return column.slices[number]


def _figure(item, group, key):
    return next(g for g in item.groups if g.group == group).figures[key].value


# --- Against Fairlearn ----------------------------------------------------------


def test_classification_figures_equal_fairlearns():
    truth, predicted, group = _fixed_binary()
    report = measure(
        "binary", truth, predicted, {"region": group}, classes=[False, True]
    )
    item = _slice(report)
    keep = _large(group)
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "recall": recall_score,
            "precision": precision_score,
            "accuracy": accuracy_score,
            "false_positive_rate": false_positive_rate,
            "true_positive_rate": true_positive_rate,
        },
        y_true=truth[keep],
        y_pred=predicted[keep],
        sensitive_features=group[keep],
    )
    checked = 0
    for name, row in frame.by_group.iterrows():
        for key in ("selection_rate", "recall", "precision", "accuracy"):
            assert abs(_figure(item, name, key) - row[key]) < TOLERANCE
            checked += 1
        fpr = _figure(item, name, "false_positive_rate")
        assert abs(fpr - row["false_positive_rate"]) < TOLERANCE
        assert abs(_figure(item, name, "recall") - row["true_positive_rate"]) < 1e-9
    assert checked == 12  # north, south, west
    assert next(g for g in item.groups if g.group == "tiny").too_small
    gaps = item.gaps
    args = (truth[keep], predicted[keep])
    features = {"sensitive_features": group[keep]}
    assert (
        abs(
            gaps["demographic_parity_difference"].value
            - demographic_parity_difference(*args, **features)
        )
        < TOLERANCE
    )
    assert (
        abs(
            gaps["demographic_parity_ratio"].value
            - demographic_parity_ratio(*args, **features)
        )
        < TOLERANCE
    )
    assert (
        abs(
            gaps["equalized_odds_difference"].value
            - equalized_odds_difference(*args, **features)
        )
        < TOLERANCE
    )
    assert report.worst_gap() == gaps["equalized_odds_difference"].value


def test_the_lowest_disparate_impact_is_fairlearns_demographic_parity_ratio():
    truth, predicted, group = _fixed_binary()
    item = _slice(measure("binary", truth, predicted, {"g": group}))
    keep = _large(group)
    lowest = min(
        g.figures["disparate_impact"].value for g in item.groups if not g.too_small
    )
    expected = demographic_parity_ratio(
        truth[keep], predicted[keep], sensitive_features=group[keep]
    )
    assert abs(lowest - expected) < TOLERANCE
    # The reference is the most favoured group: the highest selection rate.
    rates = MetricFrame(
        metrics=selection_rate,
        y_true=truth[keep],
        y_pred=predicted[keep],
        sensitive_features=group[keep],
    ).by_group
    assert item.reference == rates.idxmax()
    assert _figure(item, item.reference, "disparate_impact") == 1.0


def test_multiclass_is_one_vs_rest_per_class():
    rng = np.random.default_rng(3)
    n = 1200
    classes = ["cat", "dog", "fish"]
    group = rng.choice(["a", "b"], n)
    truth = rng.choice(classes, n, p=[0.5, 0.3, 0.2])
    predicted = np.where(rng.random(n) < 0.7, truth, rng.choice(classes, n))
    report = measure("multiclass", truth, predicted, {"g": group}, classes=classes)
    column = report.columns[0]
    assert [s.positive for s in column.slices] == classes
    for number, positive in enumerate(classes):
        item = column.slices[number]
        y, p = truth == positive, predicted == positive
        frame = MetricFrame(
            metrics={"recall": recall_score, "precision": precision_score},
            y_true=y,
            y_pred=p,
            sensitive_features=group,
        )
        for name, row in frame.by_group.iterrows():
            assert abs(_figure(item, name, "recall") - row["recall"]) < TOLERANCE
            assert abs(_figure(item, name, "precision") - row["precision"]) < TOLERANCE
        eod = equalized_odds_difference(y, p, sensitive_features=group)
        assert abs(item.gaps["equalized_odds_difference"].value - eod) < TOLERANCE
    assert report.worst_gap() == max(
        s.gaps["equalized_odds_difference"].value for s in column.slices
    )


def _mean_residual(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) - np.asarray(y_pred)))


def test_regression_figures_equal_fairlearns():
    rng = np.random.default_rng(5)
    n = 900
    group = rng.choice(["x", "y", "z"], n)
    truth = rng.normal(100, 15, n)
    predicted = truth + rng.normal(
        np.select([group == "x", group == "y"], [2, -3], 0), 5
    )
    report = measure("regression", truth, predicted, {"g": group})
    item = _slice(report)
    frame = MetricFrame(
        metrics={
            "mae": mean_absolute_error,
            "rmse": root_mean_squared_error,
            "mean_residual": _mean_residual,
        },
        y_true=truth,
        y_pred=predicted,
        sensitive_features=group,
    )
    for name, row in frame.by_group.iterrows():
        for key in ("mae", "rmse", "mean_residual"):
            assert abs(_figure(item, name, key) - row[key]) < TOLERANCE
    spread = frame.by_group["mean_residual"]
    gap = spread.max() - spread.min()
    assert abs(report.worst_gap() - gap) < TOLERANCE
    # Actual - predicted: group x is over-predicted by about 2.
    assert _figure(item, "x", "mean_residual") < -1


# --- Against Clarify's formulas, by hand ------------------------------------------


def _table(cells: dict[str, tuple[int, int, int, int]]):
    """Rows from per-group TP, FP, FN, TN counts."""
    truth, predicted, group = [], [], []
    for name, (tp, fp, fn, tn) in cells.items():
        for y, p, count in ((1, 1, tp), (0, 1, fp), (1, 0, fn), (0, 0, tn)):
            truth += [y] * count
            predicted += [p] * count
            group += [name] * count
    return np.array(truth), np.array(predicted), np.array(group)


def test_differences_follow_clarifys_post_training_formulas():
    # Facet a (the favoured group): TP 15, FP 5, FN 5, TN 15 (40 rows);
    # facet d: TP 6, FP 4, FN 9, TN 16 (35 rows).
    truth, predicted, group = _table({"a": (15, 5, 5, 15), "d": (6, 4, 9, 16)})
    item = _slice(measure("binary", truth, predicted, {"facet": group}, classes=[0, 1]))
    assert item.reference == "a"
    qa, qd = (15 + 5) / 40, (6 + 4) / 35  # q' = n'(1) / n
    figures = {g.group: g.figures for g in item.groups}
    d = {key: estimate.value for key, estimate in figures["d"].items()}
    assert abs(d["selection_rate"] - qd) < TOLERANCE
    assert abs(d["disparate_impact"] - qd / qa) < TOLERANCE  # DI = q'd / q'a
    assert abs(d["dppl"] - (qa - qd)) < TOLERANCE  # DPPL = q'a - q'd
    te = 9 / 4 - 5 / 5  # TE = FNd/FPd - FNa/FPa
    assert abs(d["treatment_equality"] - te) < TOLERANCE
    assert abs(d["fn_fp_ratio"] - 9 / 4) < TOLERANCE
    assert abs(d["recall_difference"] - (15 / 20 - 6 / 15)) < TOLERANCE  # RD
    assert abs(d["precision_difference"] - (15 / 20 - 6 / 10)) < TOLERANCE  # DAR
    assert abs(d["accuracy_difference"] - (30 / 40 - 22 / 35)) < TOLERANCE  # AD
    eod = max(abs(6 / 15 - 15 / 20), abs(4 / 20 - 5 / 20))
    assert abs(d["equalized_odds_difference"] - eod) < TOLERANCE
    assert figures["d"]["disparate_impact"].value < fairness.FOUR_FIFTHS
    flagged = {g.group: g.disparate_impact_flagged for g in item.groups}
    assert flagged == {"a": False, "d": True}  # 0.571 < 0.8: the four-fifths rule


def test_a_reference_group_can_be_given():
    truth, predicted, group = _table({"a": (15, 5, 5, 15), "d": (6, 4, 9, 16)})
    report = measure(
        "binary", truth, predicted, {"facet": group}, reference={"facet": "d"}
    )
    item = _slice(report)
    assert item.reference == "d"
    qa, qd = 20 / 40, 10 / 35
    assert abs(_figure(item, "a", "disparate_impact") - qa / qd) < TOLERANCE
    with pytest.raises(FairnessError, match="nowhere") as caught:
        measure(
            "binary", truth, predicted, {"facet": group}, reference={"facet": "nowhere"}
        )
    assert caught.value.column == "facet"


def test_a_figure_without_a_denominator_is_none_not_zero():
    # Group b is never predicted positive: its precision is undefined.
    truth, predicted, group = _table({"a": (15, 5, 5, 15), "b": (0, 0, 10, 25)})
    item = _slice(measure("binary", truth, predicted, {"g": group}, classes=[0, 1]))
    b = next(g for g in item.groups if g.group == "b")
    assert b.figures["precision"].value is None
    assert b.figures["precision"].low is None
    assert b.figures["fn_fp_ratio"].value is None  # FN 10 / FP 0
    assert b.figures["recall"].value == 0.0


# --- Bootstrap ------------------------------------------------------------------------


def test_bootstrap_intervals_contain_the_estimate_and_repeat_with_the_seed():
    truth, predicted, group = _fixed_binary()
    first = measure("binary", truth, predicted, {"g": group}, seed=11)
    again = measure("binary", truth, predicted, {"g": group}, seed=11)
    other = measure("binary", truth, predicted, {"g": group}, seed=12)
    assert first == again
    assert first != other
    estimates = [
        e
        for g in _slice(first).groups
        for e in g.figures.values()
        if e.value is not None
    ] + list(_slice(first).gaps.values())
    assert len(estimates) > 30
    for estimate in estimates:
        assert estimate.low <= estimate.value + 1e-12 <= estimate.high + 2e-12
    recall = next(g for g in _slice(first).groups if g.group == "north").figures[
        "recall"
    ]
    assert 0 < recall.high - recall.low < 0.2  # a real interval, not a point


def test_regression_intervals_contain_the_estimate_and_repeat_with_the_seed():
    rng = np.random.default_rng(2)
    group = rng.choice(["x", "y"], 400)
    truth = rng.normal(size=400)
    predicted = truth + rng.normal(size=400)
    first = measure("regression", truth, predicted, {"g": group}, resamples=300)
    assert first == measure("regression", truth, predicted, {"g": group}, resamples=300)
    for item in _slice(first).groups:
        for estimate in item.figures.values():
            assert estimate.low < estimate.value < estimate.high


def test_the_bootstrap_is_fast_on_many_rows():
    rng = np.random.default_rng(0)
    n = 200_000
    group = rng.choice(list("abcdefgh"), n)
    truth = rng.choice(["p", "q", "r"], n)
    predicted = np.where(rng.random(n) < 0.8, truth, "p")
    started = time.perf_counter()
    report = measure(
        "multiclass", truth, predicted, {"g": group}, classes=["p", "q", "r"]
    )
    assert time.perf_counter() - started < 5
    assert report.rows == n


# --- Groups -------------------------------------------------------------------------


def test_groups_under_30_rows_are_too_small_and_left_out_of_comparisons():
    truth, predicted, group = _table(
        {"a": (15, 5, 5, 15), "d": (6, 4, 9, 16), "few": (10, 0, 0, 19)}
    )
    item = _slice(measure("binary", truth, predicted, {"g": group}, classes=[0, 1]))
    few = next(g for g in item.groups if g.group == "few")
    assert few.too_small and few.rows == 29 and few.figures == {}
    # "few" has the highest selection rate yet is not the reference.
    assert item.reference == "a"
    keep = group != "few"
    expected = equalized_odds_difference(
        truth[keep], predicted[keep], sensitive_features=group[keep]
    )
    assert abs(item.gaps["equalized_odds_difference"].value - expected) < TOLERANCE


def test_worst_gap_is_none_when_no_two_groups_can_be_compared():
    truth, predicted, group = _table({"a": (15, 5, 5, 15), "few": (3, 3, 3, 3)})
    report = measure("binary", truth, predicted, {"g": group})
    assert _slice(report).gaps == {}
    assert report.worst_gap() is None
    all_small = measure("binary", truth[-12:], predicted[-12:], {"g": group[-12:]})
    assert all(g.too_small for g in _slice(all_small).groups)
    assert all_small.worst_gap() is None


def test_numeric_sensitive_columns_are_binned_by_quantile_with_their_ranges():
    rng = np.random.default_rng(1)
    age = rng.integers(18, 90, 800).astype(float)
    age[:10] = np.nan
    truth = rng.random(800) < 0.4
    report = measure("binary", truth, truth, {"age": age})
    column = report.column("age")
    assert column.binned
    names = [g.group for g in column.slices[0].groups]
    assert len(names) == fairness.NUMERIC_BINS + 1 and names[-1] == fairness.MISSING
    assert names[0].startswith("[18, ") and names[3].endswith(", 89]")
    sizes = [g.rows for g in column.slices[0].groups]
    assert sizes[-1] == 10 and sum(sizes) == 800
    assert all(abs(size - 790 / 4) < 25 for size in sizes[:4])  # quartiles
    # A numeric column of few values is a category per value.
    flags = measure("binary", truth, truth, {"flag": (age > 50).astype(int)})
    assert not flags.columns[0].binned
    assert [g.group for g in flags.columns[0].slices[0].groups] == ["0", "1"]


def test_missing_values_are_a_group_of_their_own():
    values = pd.Series(["f"] * 40 + ["m"] * 40 + [None] * 35)
    truth = np.tile([True, False], 58)[:115]
    report = measure("binary", truth, truth, {"sex": values})
    groups = {g.group: g.rows for g in report.columns[0].slices[0].groups}
    assert groups == {"f": 40, "m": 40, fairness.MISSING: 35}


def test_the_report_round_trips_through_json():
    truth, predicted, group = _fixed_binary()
    report = measure(
        "binary", truth, predicted, {"g": group, "n": np.arange(len(group))}
    )
    text = json.dumps(report.to_json(), allow_nan=False)  # strict JSON
    again = FairnessReport.from_json(json.loads(text))
    assert again == report
    assert again.worst_gap() == report.worst_gap()
    assert json.loads(text)["worst_gap"] == report.worst_gap()


def test_rows_of_another_length_are_refused():
    with pytest.raises(FairnessError, match="g"):
        measure("binary", [1, 0, 1], [1, 1, 1], {"g": ["a", "b"]})


# --- Real versions -------------------------------------------------------------------


@pytest.fixture
def stored_penguins(db):
    """Penguins v1 trained from a stored dataset (so its held-out rows can be
    rebuilt), "island" excluded from the features."""
    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    frame = datasets.read_frame(dataset)
    return train_tiny(
        frame, "species", "penguins", dataset=dataset, excluded=["island"]
    )


def test_evaluate_measures_the_versions_own_predictions(
    tiny_classifier, penguins_frame
):
    _train, test = training.split(
        penguins_frame.loc[penguins_frame["species"].notna()],
        "species",
        "multiclass",
        seed=0,
        holdout=0.2,
    )
    report = fairness.evaluate(tiny_classifier, test, ["sex"], resamples=200)
    predicted = services.predict_batch(
        tiny_classifier, test.drop(columns=["species"])
    ).labels
    column = report.column("sex")
    assert [s.positive for s in column.slices] == list(tiny_classifier.classes)
    sex = test["sex"].fillna(fairness.MISSING).to_numpy()
    keep = _large(sex)
    for item in column.slices:
        y = test["species"].to_numpy() == item.positive
        p = predicted == item.positive
        frame = MetricFrame(
            metrics=selection_rate,
            y_true=y[keep],
            y_pred=p[keep],
            sensitive_features=sex[keep],
        )
        for name, rate in frame.by_group.items():
            assert abs(_figure(item, name, "selection_rate") - rate) < TOLERANCE
    assert report.rows == len(test)


def test_a_missing_sensitive_column_is_an_error_naming_it(
    tiny_classifier, penguins_frame
):
    with pytest.raises(FairnessError, match="religion") as caught:
        fairness.evaluate(tiny_classifier, penguins_frame, ["religion"])
    assert caught.value.column == "religion"
    with pytest.raises(FairnessError, match="species") as caught:
        fairness.evaluate(
            tiny_classifier, penguins_frame.drop(columns="species"), ["sex"]
        )
    assert caught.value.column == "species"
    with pytest.raises(FairnessError, match="label"):
        fairness.evaluate(tiny_classifier, penguins_frame, ["species"])
    with pytest.raises(FairnessError, match="at least one"):
        fairness.evaluate(tiny_classifier, penguins_frame, [])


def test_regression_versions_get_mae_rmse_and_mean_residual(
    tiny_regressor, penguins_frame
):
    rows = penguins_frame.loc[penguins_frame["body_mass_g"].notna()].head(200)
    report = fairness.evaluate(
        tiny_regressor, rows, ["flipper_length_mm"], resamples=200
    )
    column = report.column("flipper_length_mm")
    assert column.binned and len(column.slices) == 1
    assert column.slices[0].positive is None
    keys = set(column.slices[0].groups[0].figures)
    assert keys == {"mae", "rmse", "mean_residual"}
    assert report.worst_gap() is not None and report.worst_gap() >= 0


def test_training_with_sensitive_columns_stores_the_report(db):
    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    frame = datasets.read_frame(dataset)
    version = train_tiny(
        frame, "species", "penguins", dataset=dataset, sensitive=["sex", "island"]
    )
    row = VersionFairness.objects.get(version=version)
    assert row.status == VersionFairness.Status.DONE
    assert row.sensitive == ["sex", "island"]
    report = fairness.report_of(row)
    assert report.rows == version.lineage.test_rows
    # The same rows again, rebuilt later from the stored dataset.
    assert fairness_jobs.compute(version, ["sex", "island"]).report == row.report


def test_training_refuses_a_sensitive_column_not_in_the_file(penguins_frame):
    with pytest.raises(TrainingRefused, match="religion") as caught:
        training.plan(
            penguins_frame, TrainOptions(label="species", sensitive=["religion"])
        )
    assert caught.value.field == "sensitive"
    with pytest.raises(TrainingRefused, match="label"):
        training.plan(
            penguins_frame, TrainOptions(label="species", sensitive=["species"])
        )


@pytest.mark.slow
def test_fairness_is_measured_on_a_column_the_model_does_not_use(stored_penguins):
    assert "island" not in stored_penguins.feature_names()
    row = fairness_jobs.compute(stored_penguins, ["island"])
    assert row.status == VersionFairness.Status.DONE, row.error
    report = fairness.report_of(row)
    groups = {g.group for g in report.column("island").slices[0].groups}
    assert groups == {"Biscoe", "Dream", "Torgersen"}
    assert report.rows == stored_penguins.lineage.test_rows


def test_a_column_missing_from_the_dataset_is_stored_as_a_failure(stored_penguins):
    row = fairness_jobs.compute(stored_penguins, ["religion"])
    assert row.status == VersionFairness.Status.FAILED
    assert "religion" in row.error
    assert fairness.report_of(row) is None


def test_two_versions_are_measured_on_the_same_rows(stored_penguins, db):
    frame = datasets.read_frame(stored_penguins.dataset)
    other = train_tiny(
        frame, "species", "penguins", dataset=stored_penguins.dataset, alias=None
    )
    first, second = fairness_jobs.on_same_rows(
        [stored_penguins, other], ["sex"], rows_of=other
    )
    assert first.rows_digest == second.rows_digest
    assert first.rows == second.rows == other.lineage.test_rows
    own = fairness.report_of(fairness_jobs.compute(other, ["sex"]))
    assert own == second  # the same rows, the same seed: the same report


def test_figures_show_with_their_interval():
    assert interval(fairness.Estimate(0.75812, 0.70191, 0.81344)) == (
        "0.7581 [0.7019, 0.8134]"
    )
    assert interval(fairness.Estimate(None)) == "—"
    assert interval(fairness.Estimate(1.0)) == "1"
    assert interval(None) == "—"


def test_rows_without_a_label_are_left_out(tiny_classifier, penguins_frame):
    rows = penguins_frame.head(120).copy()
    rows.loc[rows.index[:20], "species"] = None
    report = fairness.evaluate(tiny_classifier, rows, ["sex"], resamples=50)
    assert report.rows == 100
    with pytest.raises(FairnessError, match="No row has a value"):
        fairness.evaluate(tiny_classifier, rows.head(20), ["sex"])
