"""DriftAccumulator: chunk by chunk equals all at once, bounded memory, bad
input as states on the report, settings, importance order, JSON."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitor.drift.accumulator import DriftAccumulator
from monitor.drift.report import (
    DriftReport,
    DriftSettings,
    DriftSettingsError,
    FeatureDrift,
)
from registry import drift_reference, profiling
from registry.contracts import FeatureSchema
from registry.drift_reference import Reference


def reference_of(frame, predictions=None, problem_type="multiclass"):
    schema = FeatureSchema.from_json(profiling.feature_schema(frame))
    return drift_reference.build(
        frame, predictions, schema=schema, problem_type=problem_type
    )


def training_rows(rows=3000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, rows),
            "age": rng.integers(18, 90, rows),
            "region": rng.choice(["north", "south", "east", "west"], rows),
            "member": rng.choice([True, False], rows),
        }
    )


def shifted(frame, seed=1):
    rng = np.random.default_rng(seed)
    out = frame.copy()
    out["amount"] = out["amount"] * 1.8
    out["age"] = rng.integers(40, 95, len(frame))
    out["region"] = rng.choice(["north", "north", "east"], len(frame))
    return out


def accumulate(reference, frame, chunk, predictions=None, **kwargs):
    accumulator = DriftAccumulator(reference, **kwargs)
    for start in range(0, len(frame), chunk):
        part = None if predictions is None else predictions[start : start + chunk]
        accumulator.add(frame.iloc[start : start + chunk], part)
    return accumulator


def test_an_identical_current_set_shows_no_drift():
    rows = training_rows()
    predictions = np.where(rows["amount"] > 20, "high", "low")
    reference = reference_of(rows, predictions)
    report = accumulate(reference, rows, 500, predictions).report()
    assert report.drifted == [] and not report.dataset_drift
    assert report.drift_share == 0.0
    assert not report.prediction_drift
    for feature in report.features:
        assert feature.checked, feature
        assert feature.psi == pytest.approx(0.0, abs=1e-12)
        assert feature.out_of_range_share in (0.0, None)
        assert feature.unseen_share in (0.0, None)


def test_a_shifted_current_set_drifts():
    rows = training_rows()
    predictions = np.where(rows["amount"] > 20, "high", "low")
    current = shifted(training_rows(seed=5))
    report = accumulate(
        reference_of(rows, predictions),
        current,
        700,
        np.where(current["amount"] > 20, "high", "low"),
    ).report()
    assert set(report.drifted) == {"amount", "age", "region"}
    assert report.dataset_drift and report.drift_share == 0.75
    assert report.prediction_drift and report.prediction.method == "jensenshannon"
    assert report.get("amount").method == "wasserstein"
    assert report.get("region").method == "jensenshannon"
    assert report.get("amount").out_of_range_share > 0
    assert report.get("amount").psi > 0.1


def same_report(one: dict, other: dict) -> None:
    """Equal, but for the last bits of sums over chunks (Wasserstein's
    distances beyond the range): counts, samples and flags exactly."""
    scores = [(f["name"], f.pop("score")) for f in one["features"]]
    others = [(f["name"], f.pop("score")) for f in other["features"]]
    assert one == other
    assert [name for name, _ in scores] == [name for name, _ in others]
    for (name, score), (_, expected) in zip(scores, others, strict=True):
        assert score == pytest.approx(expected, rel=1e-12, abs=1e-15), name


def test_chunks_give_exactly_what_the_whole_data_gives():
    # 12,000 current rows: more than the sample holds, so this also checks
    # that the bottom-k sample does not depend on the chunking.
    rows = training_rows(rows=8000)
    current = shifted(training_rows(rows=12000, seed=7))
    reference = reference_of(rows)
    whole = accumulate(reference, current, len(current))
    for chunk in (997, 5000):
        chunked = accumulate(reference, current, chunk)
        for mine, theirs in zip(chunked.columns, whole.columns, strict=True):
            if hasattr(mine, "sample"):
                assert sorted(mine.sample) == sorted(theirs.sample)
                assert (mine.bins == theirs.bins).all()
        same_report(chunked.report().to_json(), whole.report().to_json())
    part = current.head(300)
    same_report(
        accumulate(reference, part, 1).report().to_json(),
        accumulate(reference, part, len(part)).report().to_json(),
    )


def test_unseen_categories_are_counted_the_same_in_chunks():
    rng = np.random.default_rng(9)
    current = training_rows(rows=3000, seed=9)
    current["region"] = [f"city{i}" for i in rng.integers(0, 400, len(current))]
    reference = reference_of(training_rows())
    whole = accumulate(reference, current, len(current))
    chunked = accumulate(reference, current, 7)
    assert chunked.columns[2].unseen == whole.columns[2].unseen
    assert chunked.columns[2].unseen_other == whole.columns[2].unseen_other > 0
    same_report(chunked.report().to_json(), whole.report().to_json())


def test_wasserstein_stays_close_to_the_whole_datas_beyond_the_sample():
    rng = np.random.default_rng(11)
    rows = pd.DataFrame({"x": rng.gamma(2.0, 1.0, 20000)})
    reference = reference_of(rows)
    for size, shift, tolerance in ((3000, 0.2, 1e-3), (200_000, 0.2, 2e-3)):
        current = pd.DataFrame({"x": rng.gamma(2.0 + shift, 1.0, size)})
        found = accumulate(reference, current, 50_000).report().get("x")
        exact = stats.wasserstein_distance(rows["x"], current["x"]) / np.std(rows["x"])
        assert found.method == "wasserstein"
        assert found.score == pytest.approx(exact, abs=tolerance)
    # The training rows again, ten times: only the reference's sketch (5,000
    # quantiles of 20,000 values) stands between them.
    again = pd.concat([rows] * 10, ignore_index=True)
    found = accumulate(reference, again, 50_000).report().get("x")
    assert found.score < 1e-3 and not found.drifted


def test_memory_stays_bounded_whatever_the_rows():
    rows = training_rows()
    accumulator = DriftAccumulator(reference_of(rows))
    rng = np.random.default_rng(3)
    for _ in range(30):
        batch = training_rows(rows=2000, seed=int(rng.integers(1000)))
        batch["region"] = [f"city{i}" for i in rng.integers(0, 10**6, len(batch))]
        accumulator.add(batch)
    numeric = accumulator.columns[0]
    assert len(numeric.sample) == drift_reference.SAMPLE_SIZE
    assert numeric.values is None  # too many values to count one by one
    region = accumulator.columns[2]
    assert len(region.unseen) == 100 and region.unseen_other > 0
    report = accumulator.report()
    assert report.get("region").unseen_share == 1.0
    assert report.rows == 60000


def test_a_large_run_gives_a_report_json_can_store():
    # Beyond the sample, Wasserstein comes from the counts: its score and flag
    # were numpy's, and the run's JSONField could not store the report.
    rows = training_rows(rows=3000)
    report = accumulate(reference_of(rows), shifted(training_rows(8000, 5)), 4000)
    found = report.report()
    assert found.get("amount").method == "wasserstein"
    assert type(found.get("amount").drifted) is bool
    text = json.dumps(found.to_json())
    assert DriftReport.from_json(json.loads(text)).drifted == found.drifted


def test_text_is_counted_the_same_as_objects_categoricals_or_mixed_values():
    # Text as str objects or categoricals is counted by codes; anything else
    # as its text; all must give the same counts and unseen categories.
    rng = np.random.default_rng(12)
    reference = reference_of(training_rows())
    region = pd.Series(
        rng.choice(["north", "south", "east", "west", "far", "away", None], 5000),
        dtype=object,
    )
    current = training_rows(rows=5000, seed=12).assign(region=region)
    plain = accumulate(reference, current, 999)
    as_category = current.assign(region=region.astype("category"))
    coded = accumulate(reference, as_category, 999)
    assert (
        coded.columns[2].unseen
        == plain.columns[2].unseen
        == {name: int((region == name).sum()) for name in ("far", "away")}
    )
    same_report(coded.report().to_json(), plain.report().to_json())
    # A number among the text is counted as its text, "1" like 1.
    mixed = region.copy()
    mixed[::50] = 1
    text = region.copy()
    text[::50] = "1"
    one = accumulate(reference, current.assign(region=mixed), 999)
    other = accumulate(reference, current.assign(region=text), 999)
    assert one.columns[2].unseen == other.columns[2].unseen
    assert one.columns[2].unseen["1"] == 100
    same_report(one.report().to_json(), other.report().to_json())


def test_the_reference_is_bounded_and_groups_the_long_tail():
    rng = np.random.default_rng(4)
    rows = pd.DataFrame(
        {
            "x": rng.normal(size=20000),
            "shop": [f"shop{i}" for i in rng.zipf(1.3, 20000) % 5000],
        }
    )
    reference = reference_of(rows)
    x, shop = reference.get("x"), reference.get("shop")
    assert len(x.sample) == 5000 and len(x.edges) == 101 and sum(x.counts) == 20000
    assert x.std == pytest.approx(np.std(rows["x"]))
    assert len(shop.frequencies) == 100 and shop.other > 0
    assert sum(c for _, c in shop.frequencies) + shop.other == 20000
    size = len(json.dumps(reference.to_json()))
    assert size < 200_000, size
    # A grouped category seen again is "other", not unseen.
    tail_value = shop.tail[0]
    report = accumulate(reference, pd.DataFrame({"x": [0.0], "shop": [tail_value]}), 1)
    assert report.report().get("shop").unseen_share == 0.0


def test_it_round_trips_through_json():
    rows = training_rows()
    reference = reference_of(rows, rows["amount"].to_numpy(), "regression")
    text = json.dumps(reference.to_json(), allow_nan=False)
    assert Reference.from_json(json.loads(text)) == reference
    assert reference.prediction.kind == "numeric"
    report = accumulate(reference, shifted(rows), 1000, rows["amount"].to_numpy() * 2)
    found = report.report()
    text = json.dumps(found.to_json(), allow_nan=False)
    again = DriftReport.from_json(json.loads(text))
    assert again.to_json() == found.to_json()
    assert again.prediction_drift and again.prediction.method == "wasserstein"


# --- Bad input: states, never exceptions ------------------------------------


def test_zero_rows_is_a_state():
    report = DriftAccumulator(reference_of(training_rows())).report()
    assert report.rows == 0 and report.drift_share is None
    assert not report.dataset_drift
    assert {f.state for f in report.features} == {"no rows"}
    accumulator = DriftAccumulator(reference_of(training_rows()))
    accumulator.add(training_rows().head(0))
    assert {f.state for f in accumulator.report().features} == {"no rows"}


def test_an_all_missing_column_is_a_state():
    current = training_rows(rows=200)
    current["amount"] = np.nan
    current["region"] = None
    report = accumulate(reference_of(training_rows()), current, 50).report()
    assert report.get("amount").state == "all missing"
    assert report.get("amount").missing_share == 1.0
    assert report.get("region").state == "all missing"
    assert report.get("age").checked


def test_a_column_with_a_new_type_is_a_state():
    current = training_rows(rows=100)
    current["amount"] = "n/a"
    report = accumulate(reference_of(training_rows()), current, 30).report()
    entry = report.get("amount")
    assert entry.state == "new type: values are not numbers (e.g. 'n/a')"
    assert entry.wrong_type_share == 1.0
    # Partly text: the numbers are tested, the rest is its share.
    current["amount"] = ["7.5", "oops"] * 50
    entry = accumulate(reference_of(training_rows()), current, 30).report()
    assert entry.get("amount").checked
    assert entry.get("amount").wrong_type_share == 0.5


def test_only_unseen_categories_drift_and_say_so():
    current = training_rows(rows=500)
    current["region"] = "atlantis"
    entry = accumulate(reference_of(training_rows()), current, 100).report()
    region = entry.get("region")
    assert region.checked and region.drifted and region.unseen_share == 1.0
    assert region.bins["note"] == "only unseen categories"
    assert "atlantis" in region.bins["labels"]
    assert json.dumps(entry.to_json(), allow_nan=False)


def test_an_empty_reference_is_a_state():
    for reference in ({}, Reference.unavailable("the dataset was deleted")):
        accumulator = DriftAccumulator(reference)
        accumulator.add(training_rows(rows=10), np.array(["a"] * 10))
        report = accumulator.report()
        assert report.state.startswith("no reference: ")
        assert report.features == () and not report.dataset_drift
    assert report.state == "no reference: the dataset was deleted"


def test_a_reference_column_that_was_all_missing_is_a_state():
    rows = training_rows()
    rows["amount"] = np.nan
    report = accumulate(reference_of(rows), training_rows(rows=100), 50).report()
    assert report.get("amount").state == "reference: all missing"


def test_a_column_absent_from_the_input_is_a_state():
    current = training_rows(rows=100).drop(columns=["age"])
    report = accumulate(reference_of(training_rows()), current, 50).report()
    assert report.get("age").state == "not in the input"
    assert report.get("age").missing_share == 1.0


class Unprintable:
    def __str__(self):
        raise ValueError("no text")


def test_a_failing_column_never_stops_the_run():
    accumulator = DriftAccumulator(reference_of(training_rows()))
    frame = pd.DataFrame({"amount": [object()] * 2, "region": [Unprintable()] * 2})
    accumulator.add(frame)
    accumulator.add(training_rows(rows=50))  # that column stays failed
    report = accumulator.report()  # does not raise
    region = report.get("region")
    assert region.state == "could not be measured: ValueError: no text"
    assert report.get("amount").checked  # its two odd values are a share
    assert report.get("amount").wrong_type_share == pytest.approx(2 / 52)
    assert report.get("age").checked


def test_text_and_dates_are_not_checked():
    rows = pd.DataFrame(
        {
            "when": pd.date_range("2026-01-01", periods=300, freq="h"),
            "x": np.arange(300.0),
        }
    )
    report = accumulate(reference_of(rows), rows, 100).report()
    assert report.get("when").state == "not checked (datetime feature)"
    assert [f.name for f in report.checked] == ["x"]


# --- Settings and order ------------------------------------------------------


def test_settings_override_method_threshold_and_ignore_features():
    rows, current = training_rows(), shifted(training_rows(seed=5))
    settings = DriftSettings(
        methods={"amount": "ks"},
        thresholds={"age": 10.0},
        ignored=("member",),
        categorical_method="psi",
        drift_share=0.9,
    )
    report = accumulate(reference_of(rows), current, 1000, settings=settings).report()
    assert report.get("member") is None
    assert report.get("amount").method == "ks"
    assert report.get("age").threshold == 10.0 and not report.get("age").drifted
    assert report.get("region").method == "psi"
    assert report.drift_share == pytest.approx(2 / 3)
    assert not report.dataset_drift  # 2 of 3 < 0.9


def test_settings_round_trip_and_refuse_bad_values():
    settings = DriftSettings(methods={"a": "z"}, ignored=("b",), p_value_threshold=0.01)
    assert DriftSettings.from_json(settings.to_json()) == settings
    assert DriftSettings() == DriftSettings.from_json({})
    bad = [
        ({"methods": {"a": "magic"}}, "methods.a is 'magic'"),
        ({"categorical_method": "ks"}, "works on numbers only"),
        ({"drift_share": 2}, "drift_share is 2; it must be between 0 and 1"),
        ({"thresholds": {"x": "high"}}, "thresholds.x must be a number"),
        ({"colour": "red"}, "unknown key(s) colour"),
    ]
    for data, message in bad:
        with pytest.raises(DriftSettingsError, match=re.escape(message)):
            DriftSettings.from_json(data)


def test_evidentlys_defaults_are_the_defaults():
    settings = DriftSettings()
    assert settings.p_value_threshold == 0.05
    assert settings.distance_threshold == 0.1
    assert settings.drift_share == 0.5
    assert settings.threshold_for("x", "ks") == 0.05
    assert settings.threshold_for("x", "wasserstein") == 0.1


def test_features_are_listed_by_permutation_importance():
    importance = [
        {"feature": "region", "importance": 0.02},
        {"feature": "age", "importance": 0.3},
        {"feature": "amount", "importance": None},
    ]
    report = accumulate(
        reference_of(training_rows()),
        training_rows(rows=100),
        100,
        importance=importance,
    ).report()
    assert [f.name for f in report.features] == ["age", "region", "amount", "member"]
    assert report.features[0].importance == 0.3


def test_a_feature_entry_names_p_value_or_distance():
    assert FeatureDrift("x", "numeric", method="ks", score=0.01).p_value == 0.01
    assert FeatureDrift("x", "numeric", method="ks", score=0.01).distance is None
    entry = FeatureDrift("x", "numeric", method="wasserstein", score=0.3)
    assert entry.distance == 0.3 and entry.p_value is None
