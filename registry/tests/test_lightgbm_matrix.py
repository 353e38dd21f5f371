"""shortcuts.lightgbm_matrix against LightGBM's own pandas conversion."""

import numpy as np
import pandas as pd
import pytest
from lightgbm.basic import _data_from_pandas

from registry.autogluon import lightgbm_matrix

TRAINED = [["Biscoe", "Dream", "Torgersen"], ["female", "male"]]


def _frame(island, sex, **numbers) -> pd.DataFrame:
    frame = pd.DataFrame(numbers)
    frame.insert(0, "island", pd.Categorical(island, categories=TRAINED[0]))
    frame["sex"] = sex
    return frame


def _same_as_lightgbm(frame: pd.DataFrame, trained=TRAINED) -> np.ndarray:
    ours = lightgbm_matrix(frame, trained)
    theirs = _data_from_pandas(frame, "auto", "auto", trained)[0]
    assert ours is not None
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)  # NaN where NaN
    return ours


def test_numbers_and_categories_with_missing_and_unseen_values():
    frame = _frame(
        ["Dream", None, "Biscoe", "Torgersen"],
        # another category order, a value never seen in training, a missing one
        pd.Categorical(
            ["male", "unknown", None, "female"], ["male", "unknown", "female"]
        ),
        bill=[39.1, np.nan, 40.3, 36.7],
        year=np.array([2007, 2008, 2009, 2007], dtype="int64"),
        flag=[True, False, True, True],
    )
    matrix = _same_as_lightgbm(frame)
    assert matrix.dtype == np.float64
    assert np.isnan(matrix[1, 0]) and np.isnan(matrix[1, 4])  # missing, unseen


def test_small_types_keep_lightgbms_result_type():
    # float32 numbers and categories with no missing code: float32, as LightGBM.
    frame = _frame(
        ["Dream", "Biscoe"],
        pd.Categorical(["male", "female"], TRAINED[1]),
        bill=np.array([39.1, 40.3], dtype="float32"),
    )
    assert _same_as_lightgbm(frame).dtype == np.float32
    frame.loc[0, "sex"] = None  # a missing code: float64
    assert _same_as_lightgbm(frame).dtype == np.float64


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(["a", "b"], dtype=object),
        pd.Series([1, None], dtype="Int64"),
        pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"])),
    ],
    ids=["text", "nullable-int", "datetime"],
)
def test_other_columns_are_left_to_lightgbm(column):
    frame = _frame(["Dream", "Biscoe"], pd.Categorical(["male", "female"]), x=column)
    assert lightgbm_matrix(frame, TRAINED) is None


def test_a_different_number_of_categorical_columns_is_left_to_lightgbm():
    frame = _frame(["Dream"], pd.Categorical(["male"]), bill=[1.0])
    assert lightgbm_matrix(frame, TRAINED[:1]) is None
    assert lightgbm_matrix(frame.iloc[:0], TRAINED) is None  # no rows
