"""Each drift method against scipy and against Evidently 0.7 (test-only
dependency) on fixed data: the reference saved once and the current rows fed
in chunks must give what Evidently computes from the raw columns."""

import warnings

import numpy as np
import pandas as pd
import pytest
from evidently import DataDefinition, Dataset, Report
from evidently.legacy.calculations.stattests.registry import get_stattest
from evidently.metrics import ValueDrift
from evidently.presets import DataDriftPreset
from scipy import stats
from scipy.spatial import distance

from monitor.drift import methods
from monitor.drift.accumulator import DriftAccumulator
from monitor.drift.report import DriftSettings
from registry import drift_reference, profiling
from registry.contracts import FeatureSchema

TOLERANCE = {"rel": 1e-9, "abs": 1e-12}


def reference_of(frame, predictions=None, problem_type="multiclass"):
    schema = FeatureSchema.from_json(profiling.feature_schema(frame))
    return drift_reference.build(
        frame, predictions, schema=schema, problem_type=problem_type
    )


def report_of(reference, current, *, chunk=250, settings=None, predictions=None):
    accumulator = DriftAccumulator(reference, settings=settings)
    for start in range(0, max(len(current), 1), chunk):
        part = None if predictions is None else predictions[start : start + chunk]
        accumulator.add(current.iloc[start : start + chunk], part)
    return accumulator.report()


def small_frames(shift: float, seed: int = 1):
    """800 reference rows (Evidently tests by p-value), 600 current rows."""
    rng = np.random.default_rng(seed)

    def frame(rows, shift):
        return pd.DataFrame(
            {
                "x": rng.normal(10 + shift, 2, rows),
                "k": rng.choice([1, 2, 3, 4], rows, p=[0.4, 0.3, 0.2, 0.1]),
                "b": rng.choice([0, 1], rows, p=[0.7 - shift / 4, 0.3 + shift / 4]),
                "c": rng.choice(list("abcd"), rows, p=[0.4, 0.3, 0.2, 0.1]),
                "s": rng.choice(
                    ["yes", "no"], rows, p=[0.6 - shift / 4, 0.4 + shift / 4]
                ),
            }
        )

    return frame(800, 0.0), frame(600, shift)


def large_frames(shift: float, seed: int = 2):
    """3,000 reference rows (Evidently measures distances), 2,500 current, with
    missing values and, when shifted, a category the reference never had."""
    rng = np.random.default_rng(seed)

    def frame(rows, shift):
        x = rng.normal(shift, 1, rows)
        x[rng.random(rows) < 0.05] = np.nan
        cats = list("abcdefgh") + (["new"] if shift else [])
        weights = np.arange(len(cats), 0, -1.0)
        return pd.DataFrame(
            {
                "x": x,
                "k": rng.choice(
                    [0, 1, 2], rows, p=[0.5, 0.3 + shift / 10, 0.2 - shift / 10]
                ),
                "c": rng.choice(cats, rows, p=weights / weights.sum()),
            }
        )

    return frame(3000, 0.0), frame(2500, shift)


def evidently(reference: pd.Series, current: pd.Series, kind: str, method=None):
    """Evidently's own choice and result on the raw columns, as its column
    drift does it (infinities and missing values dropped first)."""
    reference = reference.replace([np.inf, -np.inf], np.nan).dropna()
    current = current.replace([np.inf, -np.inf], np.nan).dropna()
    column_type = "num" if kind == "numeric" else "cat"
    test = get_stattest(reference, current, column_type, method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its divide by zero
        result = test(reference, current, column_type, None)
    return test.name, float(result.drift_score), bool(result.drifted)


@pytest.mark.parametrize("frames", [small_frames, large_frames])
@pytest.mark.parametrize("shift", [0.0, 0.6])
def test_it_chooses_and_computes_what_evidently_does(frames, shift):
    reference_rows, current_rows = frames(shift)
    report = report_of(reference_of(reference_rows), current_rows)
    for feature in report.features:
        kind = feature.kind
        name, score, drifted = evidently(
            reference_rows[feature.name], current_rows[feature.name], kind
        )
        assert feature.method == name, feature.name
        assert feature.score == pytest.approx(score, **TOLERANCE), feature.name
        assert feature.drifted == drifted, feature.name


@pytest.mark.parametrize(
    "column, method",
    [
        ("x", "ks"),
        ("x", "wasserstein"),
        ("x", "psi"),
        ("k", "chisquare"),
        ("k", "jensenshannon"),
        ("k", "psi"),
        ("k", "ks"),
        ("c", "chisquare"),
        ("c", "jensenshannon"),
        ("c", "psi"),
        ("s", "z"),
        ("s", "psi"),
    ],
)
def test_it_agrees_with_evidently_on_each_forced_method(column, method):
    reference_rows, current_rows = small_frames(0.3)
    settings = DriftSettings(methods={column: method})
    report = report_of(reference_of(reference_rows), current_rows, settings=settings)
    feature = report.get(column)
    # Evidently forces chi-squared and Z on categories only; its automatic
    # choice applies them to numbers with few values, by value as here.
    kind = "categorical" if method in ("chisquare", "z") else feature.kind
    name, score, drifted = evidently(
        reference_rows[column], current_rows[column], kind, method
    )
    assert feature.method == name
    if (column, method) == ("x", "psi"):
        # Evidently bins a many-valued number by Sturges' rule over reference
        # and current together; a reference saved once cannot know the current
        # range, so PSI uses the reference's quantile bins (standard PSI):
        # scores differ, checked against the formula instead.
        expected, observed = (
            np.array(feature.bins["reference"]),
            np.array(feature.bins["current"]),
        )
        p, q = expected / expected.sum(), observed / observed.sum()
        p, q = np.where(p == 0, 0.0001, p), np.where(q == 0, 0.0001, q)
        assert feature.score == pytest.approx(
            np.sum((p - q) * np.log(p / q)), **TOLERANCE
        )
        return
    assert feature.score == pytest.approx(score, **TOLERANCE)
    assert feature.drifted == drifted


def test_ks_and_wasserstein_equal_scipy_on_the_whole_data():
    rng = np.random.default_rng(3)
    reference_rows = pd.DataFrame({"x": rng.gamma(2.0, 3.0, 4000)})
    current_rows = pd.DataFrame({"x": rng.gamma(2.2, 3.0, 3000)})
    reference = reference_of(reference_rows)
    for method in ("ks", "wasserstein"):
        settings = DriftSettings(methods={"x": method})
        feature = report_of(reference, current_rows, settings=settings).get("x")
        ref, cur = reference_rows["x"].to_numpy(), current_rows["x"].to_numpy()
        if method == "ks":
            result = stats.ks_2samp(ref, cur)
            assert feature.score == pytest.approx(result.pvalue, **TOLERANCE)
            assert feature.statistic == pytest.approx(result.statistic, **TOLERANCE)
        else:
            expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
            assert feature.score == pytest.approx(expected, **TOLERANCE)
            assert feature.drifted == (expected >= 0.1)


def test_count_methods_equal_scipy():
    reference = np.array([400, 300, 200, 100])
    current = np.array([180, 190, 130, 100])
    expected = reference * current.sum() / reference.sum()
    chi = stats.chisquare(current, expected)
    outcome = methods.chisquare(reference, current, 0.05)
    assert outcome.score == pytest.approx(chi.pvalue, **TOLERANCE)
    assert outcome.statistic == pytest.approx(chi.statistic, **TOLERANCE)
    js = distance.jensenshannon(reference / 1000, current / 600)
    assert methods.jensenshannon(reference, current, 0.1).score == pytest.approx(
        js, **TOLERANCE
    )
    p, q = reference / 1000, current / 600
    assert methods.psi(reference, current, 0.1).score == pytest.approx(
        np.sum((p - q) * np.log(p / q)), **TOLERANCE
    )
    # Z: the share outside the first key, pooled two-proportion test.
    n1, n2, p1, p2 = 1000, 600, 0.6, 0.5
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    outcome = methods.z(np.array([400, 600]), np.array([300, 300]), 0.05)
    assert outcome.statistic == pytest.approx(z, **TOLERANCE)
    assert outcome.score == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)


def test_thresholds_compare_as_evidently_does():
    # KS drifts at p <= threshold; chi-squared and Z at p < threshold;
    # distances at >= threshold.
    points, ones = np.arange(10.0), np.ones(10, dtype=int)
    cells = np.zeros(21, dtype=int)
    cells[1::2] = 1  # the same ten values
    assert methods.ks_cells(points, ones, cells, 1.0).drifted
    same = np.array([50, 50])
    assert not methods.chisquare(same, same, 1.0).drifted
    assert methods.jensenshannon(same, np.array([100, 0]), 0.0).drifted


def test_the_dataset_drift_equals_evidentlys_preset():
    reference_rows, current_rows = small_frames(0.6)
    definition = DataDefinition(
        numerical_columns=["x", "k", "b"], categorical_columns=["c", "s"]
    )
    metrics = [ValueDrift(column=name) for name in reference_rows.columns]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset(), *metrics]).run(
            Dataset.from_pandas(current_rows, data_definition=definition),
            Dataset.from_pandas(reference_rows, data_definition=definition),
        )
    found = snapshot.dict()["metrics"]
    count = next(m for m in found if m["metric_name"].startswith("DriftedColumns"))
    values = {
        m["config"]["column"]: m["value"]
        for m in found[-len(metrics) :]
        if m["metric_name"].startswith("ValueDrift")
    }
    report = report_of(reference_of(reference_rows), current_rows)
    assert len(report.drifted) == count["value"]["count"]
    assert report.drift_share == pytest.approx(count["value"]["share"], **TOLERANCE)
    assert report.dataset_drift == (count["value"]["share"] >= 0.5)
    for feature in report.features:
        assert feature.score == pytest.approx(values[feature.name], **TOLERANCE)


@pytest.mark.parametrize("rows", [400, 8000, 30000])
def test_ks_equals_scipy_on_the_whole_current_set_whatever_its_size(rows):
    # Beyond the 5,000-value sample and beyond scipy's exact limit (10,000),
    # the counts at the reference's values still give scipy's statistic.
    rng = np.random.default_rng(rows)
    reference_rows = pd.DataFrame({"x": rng.normal(0, 1, 900).round(2)})
    current_rows = pd.DataFrame({"x": rng.normal(0.05, 1.1, rows).round(3)})
    feature = report_of(reference_of(reference_rows), current_rows, chunk=3333)
    feature = feature.get("x")
    result = stats.ks_2samp(reference_rows["x"], current_rows["x"])
    assert feature.method == "ks"
    assert feature.statistic == pytest.approx(result.statistic, **TOLERANCE)
    assert feature.score == pytest.approx(result.pvalue, **TOLERANCE)
