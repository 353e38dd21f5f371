"""Drift statistics gathered in the run's one pass: DriftAccumulator.hook is a
registry.services.predict_batch hook; each batch adds bin counts, missing,
unseen and out-of-range counts, a bounded sample and prediction counts, so
memory stays bounded whatever the rows. report() runs the tests.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype, is_object_dtype

from monitor.drift import methods
from monitor.drift.report import DriftReport, DriftSettings, FeatureDrift
from registry import drift_reference as ref_
from registry.drift_reference import NUMERIC, FeatureReference, Reference
from registry.services import BatchPrediction

UNSEEN_KEYS = 100  # unseen categories counted one by one; more are lumped
KEPT_LOOKUPS, KEPT_LOOKUP_NAMES = 64, 256  # batches' name lookups kept (bounded)
PSI_BY_VALUE = 20  # Evidently bins PSI by value when the reference has <= 20


class _Column:
    """What one column has given so far."""

    def __init__(self, reference: FeatureReference) -> None:
        self.reference = reference
        self.rows = 0
        self.missing = 0
        self.absent = 0  # rows of batches without this column
        self.error = ""

    def add(self, column: pd.Series) -> None:
        raise NotImplementedError

    def result(self, settings: DriftSettings) -> FeatureDrift:
        raise NotImplementedError

    def _base(self) -> FeatureDrift:
        reference, rows = self.reference, self.rows + self.absent
        return FeatureDrift(
            name=reference.name,
            kind=reference.kind,
            rows=rows,
            missing_share=(self.missing + self.absent) / rows if rows else None,
            reference_missing_share=(
                reference.missing / reference.rows if reference.rows else None
            ),
        )

    def _state(self) -> str:
        """Why no test can run, or ""."""
        if self.error:
            return self.error
        if self.reference.state:
            return f"reference: {self.reference.state}"
        if self.rows + self.absent == 0:
            return "no rows"
        if self.rows == 0:
            return "not in the input"
        return ""


class _Numeric(_Column):
    def __init__(self, reference: FeatureReference, *, seed: int, position: int):
        super().__init__(reference)
        self.edges = np.asarray(reference.edges, dtype="float64")
        self.bins = np.zeros(max(1, len(reference.counts)), dtype="int64")
        self.below = self.above = self.present = 0
        self.below_distance = self.above_distance = 0.0
        self.wrong_type, self.wrong_example = 0, None
        # Exact counts only while few values are seen (Evidently's rules).
        self.values: dict[float, int] | None = {} if reference.exact else None
        # KS: the current counted against the reference's own values.
        self.points, self.weights = np.unique(
            np.asarray(reference.sample, dtype="float64"), return_counts=True
        )
        self.cells = np.zeros(2 * len(self.points) + 1, dtype="int64")
        self.rng = np.random.default_rng([seed, position])
        self.keys = np.empty(0)
        self.sample = np.empty(0)
        self.largest = 1.0  # the sample's largest key, once it is full

    def add(self, column: pd.Series) -> None:
        self.rows += len(column)
        if not pd.api.types.is_numeric_dtype(column.dtype):
            converted = pd.to_numeric(column, errors="coerce")
            wrong = converted.isna() & column.notna()
            if wrong.any():
                self.wrong_type += int(wrong.sum())
                if self.wrong_example is None:
                    self.wrong_example = column[wrong].iloc[0]
            column = converted
        values, missing = ref_.numbers(column)
        self.missing += missing
        if not len(values) or not len(self.edges):
            return
        # Sorted once, everything is counted by searching the few reference
        # points in it (not each value among the points: 4x faster).
        ordered = np.sort(values)
        self.bins += ref_.bin_counts(self.edges, ordered)
        self.below += int(np.searchsorted(ordered, self.edges[0], side="left"))
        self.above += len(ordered) - int(
            np.searchsorted(ordered, self.edges[-1], side="right")
        )
        self.present += len(values)
        if len(self.points):
            left = np.searchsorted(ordered, self.points, side="left")
            right = np.searchsorted(ordered, self.points, side="right")
            self.cells[1::2] += right - left
            self.cells[0::2] += np.append(left, len(ordered)) - np.insert(right, 0, 0)
            self.below_distance += float((self.points[0] - ordered[: left[0]]).sum())
            self.above_distance += float((ordered[right[-1] :] - self.points[-1]).sum())
        if self.values is not None:
            # np.unique would sort again: the runs of equal sorted values.
            starts = np.flatnonzero(np.diff(ordered, prepend=np.nan) != 0)
            distinct = ordered[starts]
            counts = np.diff(starts, append=len(ordered))
            for value, count in zip(distinct.tolist(), counts.tolist(), strict=True):
                self.values[value] = self.values.get(value, 0) + count
            if len(self.values) > ref_.EXACT_VALUES:
                self.values = None
        # A bottom-k sample: the values with the smallest random keys. Every
        # value draws its key (the same stream however the rows are chunked);
        # once the sample is full only keys below its largest can enter it.
        keys = self.rng.random(len(values))
        if len(self.keys) == ref_.SAMPLE_SIZE:
            entering = keys < self.largest
            keys, values = keys[entering], values[entering]
        keys = np.concatenate([self.keys, keys])
        sample = np.concatenate([self.sample, values])
        if len(keys) > ref_.SAMPLE_SIZE:
            keep = np.argpartition(keys, ref_.SAMPLE_SIZE - 1)[: ref_.SAMPLE_SIZE]
            keys, sample = keys[keep], sample[keep]
        if len(keys) == ref_.SAMPLE_SIZE:
            self.largest = keys.max()
        self.keys, self.sample = keys, sample

    def _distinct(self) -> int:
        if self.values is None or not self.reference.exact:
            return methods.FEW_VALUES + 1
        return len({v for v, _ in self.reference.frequencies} | set(self.values))

    def _by_value(self) -> tuple[list, np.ndarray, np.ndarray]:
        keys = sorted({v for v, _ in self.reference.frequencies} | set(self.values))
        known = dict(self.reference.frequencies)
        return (
            keys,
            np.array([known.get(k, 0) for k in keys]),
            np.array([self.values.get(k, 0) for k in keys]),
        )

    def result(self, settings: DriftSettings) -> FeatureDrift:
        base = self._base()
        present = self.rows - self.missing
        if self.rows:
            base = _with(
                base,
                wrong_type_share=self.wrong_type / self.rows,
                out_of_range_share=(
                    (self.below + self.above) / present if present else None
                ),
            )
        state = self._state()
        if not state and present == 0:
            state = (
                f"new type: values are not numbers (e.g. {self.wrong_example!r})"
                if self.wrong_type
                else "all missing"
            )
        if state:
            return _with(base, state=state)
        reference = self.reference
        exact = self.values is not None and reference.exact
        method = settings.method_for(reference.name, NUMERIC) or (
            methods.default_method(NUMERIC, reference.present, self._distinct())
        )
        threshold = settings.threshold_for(reference.name, method)
        bins = {
            "edges": list(reference.edges),
            "reference": list(reference.counts),
            "current": self.bins.tolist(),
        }
        if exact:
            _, expected, observed = self._by_value()
        else:
            expected, observed = np.asarray(reference.counts), self.bins
        if method == methods.KS:
            outcome = methods.ks_cells(self.points, self.weights, self.cells, threshold)
        elif method == methods.WASSERSTEIN and self.present > ref_.SAMPLE_SIZE:
            outcome = methods.wasserstein_cells(
                self.points,
                self.weights,
                self.cells,
                (self.below_distance, self.above_distance),
                threshold,
                std=reference.std or 0.0,
            )
        elif method == methods.WASSERSTEIN:
            outcome = methods.wasserstein(
                np.asarray(reference.sample),
                self.sample,
                threshold,
                std=reference.std or 0.0,
            )
        else:
            outcome = methods.COUNT_METHODS[method](expected, observed, threshold)
        by_value = exact and len(reference.frequencies) <= PSI_BY_VALUE
        psi = (
            methods.psi(expected, observed, 0.1)
            if by_value
            else methods.psi(np.asarray(reference.counts), self.bins, 0.1)
        )
        return _with(
            base,
            method=method,
            score=outcome.score,
            statistic=outcome.statistic,
            threshold=threshold,
            drifted=outcome.drifted,
            psi=psi.score,
            bins=bins,
        )


class _Categorical(_Column):
    def __init__(self, reference: FeatureReference):
        super().__init__(reference)
        self.names = pd.Index([value for value, _ in reference.frequencies])
        self.counts = np.zeros(len(self.names), dtype="int64")
        self.tail_names = list(reference.tail)
        self.tail = 0
        self.unseen: dict[str, int] = {}
        self.unseen_other = 0
        self.lookups: dict[tuple, np.ndarray] = {}

    def add(self, column: pd.Series) -> None:
        self.rows += len(column)
        names, tally = _tally(column)
        self.missing += len(column) - int(tally.sum())
        if not len(names):
            return
        where = self._where(names)
        known = where >= 0
        np.add.at(self.counts, where[known], tally[known])
        if known.all():  # the usual batch: no Series to build for the rest
            return
        rest = pd.Series(tally[~known], index=names[~known])
        in_tail = rest.index.isin(self.tail_names)
        self.tail += int(rest[in_tail].sum())
        rest = rest[~in_tail]
        # The first UNSEEN_KEYS unseen values, in order of appearance, one by
        # one; the rest lumped (a column of IDs stays bounded and fast).
        again = rest.index.isin(list(self.unseen))
        for value, count in rest[again].items():
            self.unseen[value] += int(count)
        fresh = rest[~again]
        room = UNSEEN_KEYS - len(self.unseen)
        for value, count in fresh.iloc[:room].items():
            self.unseen[value] = int(count)
        self.unseen_other += int(fresh.iloc[room:].sum())

    def _where(self, names: np.ndarray) -> np.ndarray:
        """The reference position of each name (-1: not among the top); batches
        mostly bring the same few names, so their lookups are kept."""
        key = tuple(names) if len(names) <= KEPT_LOOKUP_NAMES else None
        where = self.lookups.get(key) if key is not None else None
        if where is None:
            where = self.names.get_indexer(names)
            if key is not None and len(self.lookups) < KEPT_LOOKUPS:
                self.lookups[key] = where
        return where

    def _keys(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Aligned counts: the reference's top categories, its grouped tail,
        each unseen category, the unseen ones beyond UNSEEN_KEYS."""
        keys = [*self.names, "(other)", *self.unseen, "(other unseen)"]
        expected = [*(c for _, c in self.reference.frequencies), self.reference.other]
        expected += [0] * (len(self.unseen) + 1)
        observed = [*self.counts.tolist(), self.tail, *self.unseen.values()]
        observed.append(self.unseen_other)
        return keys, np.array(expected), np.array(observed)

    def result(self, settings: DriftSettings) -> FeatureDrift:
        base = self._base()
        present = self.rows - self.missing
        unseen = sum(self.unseen.values()) + self.unseen_other
        if present:
            base = _with(base, unseen_share=unseen / present)
        state = self._state() or ("" if present else "all missing")
        if state:
            return _with(base, state=state)
        reference = self.reference
        keys, expected, observed = self._keys()
        distinct = int(((expected > 0) | (observed > 0)).sum())
        if reference.other:
            distinct = max(distinct, len(self.names) + len(self.tail_names) + 1)
        method = settings.method_for(
            reference.name, "categorical"
        ) or methods.default_method("categorical", reference.present, distinct)
        if method in methods.NUMERIC_ONLY:
            return _with(base, state=f"{method} works on numbers only")
        threshold = settings.threshold_for(reference.name, method)
        if method == methods.Z:  # Evidently's first key: the smallest value
            order = np.argsort(np.array(keys, dtype=object), kind="stable")
            outcome = methods.z(expected[order], observed[order], threshold)
        else:
            outcome = methods.COUNT_METHODS[method](expected, observed, threshold)
        psi = methods.psi(expected, observed, 0.1)
        shown = (expected > 0) | (observed > 0)
        note = "only unseen categories" if unseen == present else ""
        return _with(
            base,
            method=method,
            score=outcome.score,
            statistic=outcome.statistic,
            threshold=threshold,
            drifted=outcome.drifted,
            psi=psi.score,
            state="",
            bins={
                "labels": [k for k, s in zip(keys, shown, strict=True) if s],
                "reference": expected[shown].tolist(),
                "current": observed[shown].tolist(),
                **({"note": note} if note else {}),
            },
        )


class _Unchecked(_Column):
    def add(self, column: pd.Series) -> None:
        self.rows += len(column)

    def result(self, settings: DriftSettings) -> FeatureDrift:
        reference = self.reference
        if reference.kind == ref_.UNCHECKED:
            return _with(self._base(), state=reference.state or "not checked")
        return _with(self._base(), state=f"reference: {reference.state}")


def _tally(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """texts(column).value_counts(sort=False) as (values, counts), in order of
    first appearance; text (categoricals or str objects) counted by codes,
    without making a string per row."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        if dtype.categories.inferred_type == "string":
            codes = column.cat.codes.to_numpy()
            present = codes[codes >= 0]
            order = pd.unique(present)
            names = dtype.categories.to_numpy(dtype=object)[order]
            return names, np.bincount(present)[order]
    elif is_object_dtype(dtype) and infer_dtype(column, skipna=True) == "string":
        codes, uniques = pd.factorize(column.to_numpy())  # missing: -1
        present = codes[codes >= 0]
        tally = np.bincount(present, minlength=len(uniques))
        return np.asarray(uniques, dtype=object), tally
    counted = ref_.texts(column).value_counts(sort=False)
    return counted.index.to_numpy(dtype=object), counted.to_numpy()


def _column(reference: FeatureReference, *, seed: int, position: int) -> _Column:
    if reference.state:
        return _Unchecked(reference)
    if reference.kind == NUMERIC:
        return _Numeric(reference, seed=seed, position=position)
    if reference.kind == ref_.CATEGORICAL:
        return _Categorical(reference)
    return _Unchecked(reference)


def _with(drift: FeatureDrift, **changes) -> FeatureDrift:
    return FeatureDrift(**{**drift.__dict__, **changes})


class DriftAccumulator:
    """Drift of a run's inputs and predictions against a version's reference.

    Monitoring never fails a run: a column that cannot be measured gets its
    reason as state, and nothing here raises from hook() or report().
    """

    def __init__(
        self,
        reference: Reference | dict,
        *,
        settings: DriftSettings | None = None,
        importance: Iterable[dict] = (),
    ) -> None:
        if not isinstance(reference, Reference):
            reference = Reference.from_json(reference)
        self.reference = reference
        self.settings = settings or DriftSettings()
        self.importance = {
            str(item.get("feature")): item.get("importance") for item in importance
        }
        self.rows = 0
        seed = reference.seed
        self.columns = [
            _column(feature, seed=seed, position=position)
            for position, feature in enumerate(reference.features)
            if feature.name not in self.settings.ignored
        ]
        self.prediction = (
            _column(reference.prediction, seed=seed, position=len(reference.features))
            if reference.prediction is not None
            else None
        )

    @classmethod
    def for_version(
        cls, version, *, settings: DriftSettings | None = None
    ) -> DriftAccumulator:
        return cls(
            ref_.for_version(version),
            settings=settings,
            importance=version.feature_importance or (),
        )

    def hook(self, batch: BatchPrediction) -> None:
        """A predict_batch hook."""
        self.add(batch.features, batch.labels)

    def add(self, frame: pd.DataFrame, predictions=None) -> None:
        """One batch: the model's input columns and, if known, its predictions."""
        if not self.reference.ok:
            return
        self.rows += len(frame)
        for column in self.columns:
            name = column.reference.name
            if name not in frame.columns:
                column.absent += len(frame)
                continue
            _add(column, frame[name])
        if self.prediction is not None and predictions is not None:
            _add(self.prediction, pd.Series(np.asarray(predictions)))

    def report(self) -> DriftReport:
        threshold = self.settings.drift_share
        if not self.reference.ok:
            return DriftReport(
                rows=self.rows,
                drift_share_threshold=threshold,
                state=self.reference.state,
            )
        found = [self._result(column) for column in self.columns]
        ranked = sorted(
            enumerate(found),
            key=lambda pair: (
                pair[1].importance is None,
                -(pair[1].importance or 0.0),
                pair[0],
            ),
        )
        return DriftReport(
            rows=self.rows,
            features=tuple(feature for _, feature in ranked),
            prediction=(
                self._result(self.prediction) if self.prediction is not None else None
            ),
            drift_share_threshold=threshold,
        )

    def _result(self, column: _Column) -> FeatureDrift:
        name = column.reference.name
        try:
            found = column.result(self.settings)
        except Exception as exc:  # monitoring must never fail the run
            found = _with(column._base(), state=_failure(exc))
        importance = self.importance.get(name)
        if isinstance(importance, int | float):
            found = _with(found, importance=float(importance))
        return found


def _add(column: _Column, values: pd.Series) -> None:
    if column.error:
        return
    try:
        column.add(values)
    except Exception as exc:  # monitoring must never fail the run
        column.error = _failure(exc)


def _failure(exc: Exception) -> str:
    return f"could not be measured: {type(exc).__name__}: {exc}"
