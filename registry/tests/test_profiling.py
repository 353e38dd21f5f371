"""LabelStats: a label column summed up batch by batch in bounded memory."""

import numpy as np
import pandas as pd

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
