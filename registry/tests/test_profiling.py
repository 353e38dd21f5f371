"""LabelStats: a label column summed up batch by batch in bounded memory."""

import numpy as np
import pandas as pd
import pytest

from registry import profiling
from registry.profiling import MAX_LABEL_VALUES, LabelStats


def test_batches_add_up_to_the_whole_column():
    column = pd.Series(["a", "b", None, "a", "c", None, "a"] * 10)
    whole = LabelStats.of(column)
    batched = LabelStats()
    for start in range(0, len(column), 3):
        batched.add(column.iloc[start : start + 3])
    assert batched == whole
    assert (whole.present, whole.missing, whole.distinct) == (50, 20, 3)
    assert whole.counts == {"a": 30, "b": 10, "c": 10}
    assert whole.first == "a" and whole.rare() == []


def test_values_are_plain_python_never_numpy():
    stats = LabelStats.of(pd.Series(np.array([0, 1, 1], dtype="int64")))
    assert stats.counts == {0: 1, 1: 2} and stats.first == 0
    assert all(type(key) is int for key in stats.counts)
    assert repr(stats.first) == "0" and stats.rare() == [0]


def test_many_distinct_values_are_counted_as_many_without_keeping_them():
    stats = LabelStats()
    stats.add(pd.Series(np.arange(MAX_LABEL_VALUES // 2, dtype="float64")))
    assert not stats.many
    stats.add(pd.Series(np.arange(MAX_LABEL_VALUES, dtype="float64") + 0.5))
    assert stats.many and stats.counts == {} and stats.values() == []
    assert stats.distinct == MAX_LABEL_VALUES + 1
    stats.add(pd.Series(np.arange(10**6, dtype="float64")))
    assert stats.present == MAX_LABEL_VALUES // 2 + MAX_LABEL_VALUES + 10**6
    assert stats.numeric


def test_text_in_any_batch_makes_the_column_not_numeric():
    stats = LabelStats.of(pd.Series([1.0, 2.0]))
    stats.add(pd.Series(["x"]))
    assert not stats.numeric and profiling.LabelStats().numeric


def test_column_kind_tells_each_kind_apart():
    rows = 100
    assert profiling.column_kind(pd.Series([True, False] * 50)) == "boolean"
    assert profiling.column_kind(pd.Series(range(rows))) == "numeric"
    assert profiling.column_kind(pd.Series(np.linspace(0, 1, rows))) == "numeric"
    dates = pd.Series(pd.date_range("2024-01-01", periods=rows))
    assert profiling.column_kind(dates) == "datetime"
    assert profiling.column_kind(pd.Series(["a", "b"] * 50)) == "categorical"
    assert profiling.column_kind(pd.Series([None] * 5, dtype=object)) == "categorical"
    sentences = pd.Series([f"a free text answer, number {i:04d}" for i in range(rows)])
    assert profiling.column_kind(sentences) == "text"
    # Many distinct but short values (codes) stay categorical.
    codes = pd.Series([f"C{i:03d}" for i in range(rows)])
    assert profiling.column_kind(codes) == "categorical"


def test_feature_schema_describes_each_column_in_order():
    frame = pd.DataFrame(
        {
            "mass": [3.5, None, 5.0],
            "island": ["Dream", "Biscoe", "Dream"],
            "when": pd.to_datetime(["2024-01-02", "2024-01-01", None]),
        }
    )
    mass, island, when = profiling.feature_schema(frame)
    assert mass == {
        "name": "mass",
        "dtype": "float64",
        "kind": "numeric",
        "missing": 1,
        "min": 3.5,
        "max": 5.0,
        "mean": 4.25,
    }
    assert type(mass["min"]) is float
    assert island["categories"] == ["Biscoe", "Dream"] and island["missing"] == 0
    assert when["kind"] == "datetime"
    assert when["min"] == "2024-01-01T00:00:00" and when["max"].startswith("2024-01-02")


def test_histogram_of_numbers_has_ten_bins_counting_every_finite_value():
    column = pd.Series([*range(100), np.inf, None])
    result = profiling.histogram(column)
    assert result["type"] == "numeric"
    assert len(result["edges"]) == 11 and len(result["counts"]) == 10
    assert sum(result["counts"]) == 100
    assert result["edges"][0] == 0.0 and result["edges"][-1] == 99.0


def test_histogram_of_only_infinities_is_empty():
    result = profiling.histogram(pd.Series([np.inf, -np.inf]))
    assert result == {"type": "numeric", "edges": [], "counts": []}


def test_histogram_of_categories_keeps_the_top_ten_and_counts_the_rest():
    column = pd.Series([f"v{i}" for i in range(12) for _ in range(12 - i)])
    result = profiling.histogram(column)
    assert result["type"] == "categorical"
    assert result["labels"] == [f"v{i}" for i in range(10)]
    assert result["counts"] == list(range(12, 2, -1))
    assert result["other"] == 2 + 1


def test_reference_statistics_of_numbers_and_categories():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, None], "c": ["a", "a", "b", None]})
    reference = profiling.reference_statistics(frame)
    x, c = reference["x"], reference["c"]
    assert x["kind"] == "numeric" and x["count"] == 4
    assert x["missing_fraction"] == 0.25
    assert x["mean"] == 2.0 and x["std"] == 1.0
    assert x["quantiles"]["0.0"] == 1.0 and x["quantiles"]["0.5"] == 2.0
    assert x["quantiles"]["1.0"] == 3.0
    assert sum(x["histogram"]["counts"]) == 3
    assert c["frequencies"] == {"a": pytest.approx(2 / 3), "b": pytest.approx(1 / 3)}
    one = profiling.reference_statistics(pd.DataFrame({"x": [5.0]}))["x"]
    assert one["std"] == 0.0  # one value: no spread, not NaN


def test_profile_has_plain_values_and_none_for_missing_in_its_sample():
    frame = pd.DataFrame({"n": [1, 2, 3], "s": ["a", None, "c"]})
    result = profiling.profile(frame, sample_rows=2)
    assert result["rows"] == 3
    assert result["sample"] == [[1, "a"], [2, None]]
    assert type(result["sample"][0][0]) is int
    n, s = result["columns"]
    assert (n["min"], n["max"], n["mean"], n["distinct"]) == (1, 3, 2.0, 3)
    assert s["missing"] == 1 and s["distinct"] == 2 and "min" not in s


def test_id_like_columns_finds_keys_and_leaves_features():
    rows = 20
    frame = pd.DataFrame(
        {
            "id": range(rows),  # named like a key
            "row": range(100, 100 + rows),  # increasing whole numbers
            "customer_id": [f"c{i}" for i in range(rows)],
            "code": [f"{i:05d}" for i in range(rows)],  # all the same length
            "score": np.random.default_rng(0).permutation(rows),  # distinct, unsorted
            "mass": np.linspace(3.0, 5.0, rows),  # not whole numbers
            "island": ["a", "b"] * (rows // 2),
        }
    )
    assert profiling.id_like_columns(frame) == ["id", "row", "customer_id", "code"]
    assert profiling.id_like_columns(frame.head(9)) == []  # too few rows to tell


def test_label_stats_distinct_values_and_rare_ones():
    stats = LabelStats.of(pd.Series(["a", "a", "b", "c", "c", "c"]))
    assert stats.distinct == 3
    assert stats.values() == ["a", "b", "c"]
    assert stats.rare() == ["b"]
    assert sorted(stats.rare(below=3)) == ["a", "b"]
