"""Shortcut: the frame AutoGluon hands LightGBM made into a matrix directly.

LightGBM's own pandas conversion (lightgbm.basic._data_from_pandas, private)
copies the frame and recodes every categorical column through
DataFrame.apply and replace, a fixed cost per call whatever the rows (cost:
bench/RESULTS.md, "cheaper predict calls"). `lightgbm_matrix` builds the same
values and dtype column by column. The only module that calls LightGBM's
conversion or replaces a LightGBM model's ``.model`` for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from registry.autogluon.adapter import Predictor
from registry.autogluon.shortcuts.boosters import booster_slots
from registry.autogluon.shortcuts.outcome import Outcome

NAME = "lightgbm_matrix"


def lightgbm_matrix(data: pd.DataFrame, pandas_categorical) -> np.ndarray | None:
    """The matrix LightGBM's own pandas conversion makes for a booster
    trained with these categories, for frames of numpy numbers and
    categoricals; None for anything else."""
    if data.empty:
        return None
    categories = iter(pandas_categorical or [])
    columns, dtypes = [], [np.dtype(np.float32)]
    cat_columns = 0
    for name, dtype in zip(data.columns, data.dtypes, strict=True):
        series = data[name]
        if isinstance(dtype, pd.CategoricalDtype):
            cat_columns += 1
            trained = next(categories, None)
            if trained is None:
                return None
            if list(dtype.categories) != list(trained):
                series = series.cat.set_categories(trained)
            codes = series.cat.codes.to_numpy()
            unknown = codes == -1
            values = codes
            if unknown.any():
                values = codes.astype(np.float64)
                values[unknown] = np.nan
        elif isinstance(dtype, np.dtype) and dtype.kind in "biuf":
            values = series.to_numpy()
        else:
            return None
        columns.append(values)
        dtypes.append(values.dtype)
    if cat_columns != len(pandas_categorical or []):
        return None
    matrix = np.empty((len(data), len(columns)), dtype=np.result_type(*dtypes))
    for index, values in enumerate(columns):
        matrix[:, index] = values
    return matrix


def lightgbms_own(data: pd.DataFrame, pandas_categorical) -> np.ndarray:
    from lightgbm.basic import _data_from_pandas  # private: only here

    return _data_from_pandas(data, "auto", "auto", pandas_categorical)[0]


def attach(predictor: Predictor, probes: list[pd.DataFrame]) -> Outcome:
    """Hand every LightGBM booster the best model predicts with (or the
    compiled code standing in for it) lightgbm_matrix's matrix from now on,
    once on the probes it is exactly LightGBM's own conversion."""
    try:
        slots = booster_slots(predictor)
    except Exception as exc:
        return Outcome.refused(NAME, str(exc))
    if not slots:
        return Outcome.refused(
            NAME, f"{predictor.best_model} predicts with no LightGBM model"
        )
    if not probes:
        return Outcome.refused(NAME, "no probe rows to check it on")
    inputs = [MatrixInput(slot.in_use, slot.booster, checking=True) for slot in slots]
    for slot, stand_in in zip(slots, inputs, strict=True):
        slot.use(stand_in)
    try:
        for probe in probes:
            predictor.predict_both(probe)
    finally:
        for stand_in in inputs:
            stand_in.checking = False
    problems = [stand_in.problem for stand_in in inputs if stand_in.problem]
    if not problems and not all(stand_in.checked for stand_in in inputs):
        problems = ["LightGBM was given no frame of the probes to check it on"]
    if problems:
        for slot, stand_in in zip(slots, inputs, strict=True):
            slot.use(stand_in._inner)
        return Outcome.refused(NAME, problems[0])
    return Outcome.took(NAME)


class MatrixInput:
    """Stands in for a booster (or its compiled code): frames become
    lightgbm_matrix's matrix before they reach it. While `checking`, each
    frame is also converted by LightGBM and the two compared."""

    def __init__(self, inner, booster, *, checking: bool = False) -> None:
        self._inner = inner
        self._booster = booster  # the lightgbm.Booster, for booster_slots
        self.checking = checking
        self.checked = 0
        self.problem = ""

    def predict(self, data, *args, num_threads: int = 0, **kwargs):
        if args or kwargs or not isinstance(data, pd.DataFrame):
            return self._inner.predict(data, *args, num_threads=num_threads, **kwargs)
        cats = self._booster.pandas_categorical
        matrix = lightgbm_matrix(data, cats)
        if self.checking:
            self._check(data, matrix, cats)
        return self._inner.predict(
            data if matrix is None else matrix, num_threads=num_threads
        )

    def _check(self, data: pd.DataFrame, matrix, cats) -> None:
        if matrix is None:
            kinds = sorted({str(dtype) for dtype in data.dtypes})
            self.problem = self.problem or (
                f"LightGBM is given columns it does not convert ({', '.join(kinds)})"
            )
            return
        own = lightgbms_own(data, cats)
        if own.dtype != matrix.dtype or not np.array_equal(own, matrix, equal_nan=True):
            self.problem = self.problem or (
                "its matrix differs from LightGBM's own conversion on the probes"
            )
            return
        self.checked += 1

    def __getattr__(self, name):
        if name.startswith("_"):  # never the booster's: no recursion when unset
            raise AttributeError(name)
        return getattr(self._booster, name)

    def __reduce_ex__(self, protocol):
        # Saved (never by the platform) as what it stands in for.
        return self._inner.__reduce_ex__(protocol)
