"""The drift reference of a version: what the monitor's drift checks compare a
run's inputs and predictions against, built once from the training rows and
the held-out predictions and kept in its own row (models.DriftReference).

It lives in the registry because it is a training artefact (the registry owns
the training rows and the split); monitor.drift reads it and never the rows.

Per numeric feature: fine quantile bins with counts, its values or, when
there are more than 5,000, 5,000 evenly spaced quantiles (KS, Wasserstein),
and each value's count when there are few (Evidently's rules switch method
at 5); per categorical feature: the top categories' counts with the long tail
grouped; missing counts everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from registry.contracts import FeatureSchema
from registry.models import DriftReference, ModelVersion

FORMAT = 1
QUANTILES = 100  # fine bins: at most 100, fewer when quantiles coincide
SAMPLE_SIZE = 5_000  # values kept for KS and Wasserstein
TOP_CATEGORIES = 100  # categories counted one by one; the rest is "other"
TAIL_NAMES = 1_000  # names of grouped categories kept, so they are not "unseen"
EXACT_VALUES = 100  # numeric features with at most this many values: counted each
NUMERIC, CATEGORICAL, UNCHECKED = "numeric", "categorical", "unchecked"


@dataclass(frozen=True)
class FeatureReference:
    """One column's reference. `state` is "" when usable, else why not."""

    name: str
    kind: str  # NUMERIC, CATEGORICAL or UNCHECKED (text, datetime)
    rows: int = 0
    missing: int = 0  # missing or not finite: left out like Evidently does
    state: str = ""
    # Numeric: ascending distinct quantile edges; counts[i] holds the values
    # in bin i (bin_counts), so len(counts) == max(1, len(edges) - 1).
    edges: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    mean: float | None = None
    std: float | None = None  # population std (ddof=0), Evidently's norm
    sample: tuple[float, ...] = ()  # every value, or SAMPLE_SIZE quantiles
    # Numeric with few distinct values, and categorical: (value, count),
    # most frequent first; categorical values as text.
    frequencies: tuple[tuple[Any, int], ...] = ()
    other: int = 0  # categorical rows in the grouped tail
    tail: tuple[str, ...] = ()  # names in the grouped tail (bounded)

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def exact(self) -> bool:
        """Every value's count is known (few distinct values, or no tail)."""
        if self.kind == NUMERIC:
            return bool(self.frequencies)
        return self.other == 0

    def to_json(self) -> dict:
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "rows": self.rows,
            "missing": self.missing,
        }
        if self.state:
            data["state"] = self.state
        for key in ("edges", "counts", "sample", "tail"):
            if getattr(self, key):
                data[key] = list(getattr(self, key))
        for key in ("mean", "std"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.frequencies:
            data["frequencies"] = [[value, count] for value, count in self.frequencies]
        if self.other:
            data["other"] = self.other
        return data

    @classmethod
    def from_json(cls, data: dict) -> FeatureReference:
        return cls(
            name=str(data["name"]),
            kind=str(data.get("kind", UNCHECKED)),
            rows=int(data.get("rows") or 0),
            missing=int(data.get("missing") or 0),
            state=str(data.get("state") or ""),
            edges=tuple(float(v) for v in data.get("edges") or ()),
            counts=tuple(int(v) for v in data.get("counts") or ()),
            mean=data.get("mean"),
            std=data.get("std"),
            sample=tuple(float(v) for v in data.get("sample") or ()),
            frequencies=tuple(
                (value, int(count)) for value, count in data.get("frequencies") or ()
            ),
            other=int(data.get("other") or 0),
            tail=tuple(str(v) for v in data.get("tail") or ()),
        )


@dataclass(frozen=True)
class Reference:
    """A version's drift reference; `state` is "" or "no reference: <why>"."""

    rows: int = 0
    features: tuple[FeatureReference, ...] = ()
    prediction: FeatureReference | None = None
    seed: int = 0  # of the current samples' random keys (monitor.drift)
    state: str = ""
    extra: dict = field(default_factory=dict)  # keys a newer platform wrote

    @classmethod
    def unavailable(cls, why: str) -> Reference:
        return cls(state=f"no reference: {why}")

    @property
    def ok(self) -> bool:
        return not self.state

    def get(self, name: str) -> FeatureReference | None:
        return next((f for f in self.features if f.name == name), None)

    def to_json(self) -> dict:
        data: dict[str, Any] = {
            **self.extra,
            "format": FORMAT,
            "rows": self.rows,
            "seed": self.seed,
            "features": [feature.to_json() for feature in self.features],
            "prediction": self.prediction.to_json() if self.prediction else None,
        }
        if self.state:
            data["state"] = self.state
        return data

    @classmethod
    def from_json(cls, data: dict | None) -> Reference:
        data = dict(data or {})
        if not data:
            return cls.unavailable("none was saved for this version")
        known = {k: data.pop(k, None) for k in ("format", "rows", "seed", "state")}
        features, prediction = data.pop("features", None), data.pop("prediction", None)
        return cls(
            rows=int(known["rows"] or 0),
            features=tuple(FeatureReference.from_json(f) for f in features or ()),
            prediction=FeatureReference.from_json(prediction) if prediction else None,
            seed=int(known["seed"] or 0),
            state=str(known["state"] or ""),
            extra=data,
        )


def bin_counts(edges: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """How many of the sorted values fall in each bin: between consecutive
    edges, a value on an inner edge going right; values beyond the ends in
    the end bins."""
    cuts = np.searchsorted(ordered, edges[1:-1], side="left")
    return np.diff(np.concatenate([[0], cuts, [len(ordered)]]))


def quantiles(ordered: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """numpy's default ("linear") quantiles of sorted values, without the
    partition np.quantile does for each of thousands of quantiles."""
    position = shares * (len(ordered) - 1)
    low = np.floor(position).astype("int64")
    high = np.minimum(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def numbers(column: pd.Series) -> tuple[np.ndarray, int]:
    """The finite values of a numeric column as float64, and how many were
    missing, not finite or not numbers at all."""
    if pd.api.types.is_bool_dtype(column.dtype) or not pd.api.types.is_numeric_dtype(
        column.dtype
    ):
        column = pd.to_numeric(column, errors="coerce")
    values = column.to_numpy(dtype="float64", na_value=np.nan)
    finite = values[np.isfinite(values)]
    return finite, len(values) - len(finite)


def texts(column: pd.Series) -> pd.Series:
    """A categorical column's present values as text (how categories are kept)."""
    values = column.dropna()
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    return values.astype(str)


def plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def numeric_reference(name: str, column: pd.Series) -> FeatureReference:
    values, missing = numbers(column)
    base = FeatureReference(name, NUMERIC, rows=len(column), missing=missing)
    if not len(values):
        return replace(base, state="all missing" if len(column) else "no rows")
    ordered = np.sort(values)
    edges = np.unique(quantiles(ordered, np.linspace(0, 1, QUANTILES + 1)))
    counts = bin_counts(edges, ordered)
    if len(values) <= SAMPLE_SIZE:
        sample = values
    else:
        # Evenly spaced quantiles rather than a random sample: Wasserstein on
        # them is within 1e-4 of the whole data's, a random 5,000 within ~1e-2.
        sample = quantiles(ordered, (np.arange(SAMPLE_SIZE) + 0.5) / SAMPLE_SIZE)
    distinct, tally = np.unique(ordered, return_counts=True)
    frequencies = ()
    if len(distinct) <= EXACT_VALUES:
        order = np.argsort(-tally, kind="stable")
        frequencies = tuple((plain(distinct[i]), int(tally[i])) for i in order)
    return replace(
        base,
        edges=tuple(float(e) for e in edges),
        counts=tuple(int(c) for c in counts),
        mean=float(values.mean()),
        std=float(np.std(values)),
        sample=tuple(float(v) for v in sample),
        frequencies=frequencies,
    )


def categorical_reference(name: str, column: pd.Series) -> FeatureReference:
    values = texts(column)
    base = FeatureReference(
        name, CATEGORICAL, rows=len(column), missing=len(column) - len(values)
    )
    if values.empty:
        return replace(base, state="all missing" if len(column) else "no rows")
    counts = values.value_counts(sort=False)
    # Most frequent first, ties by name, so the top is the same on every run.
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    top, rest = ordered[:TOP_CATEGORIES], ordered[TOP_CATEGORIES:]
    return replace(
        base,
        frequencies=tuple((value, int(count)) for value, count in top),
        other=int(sum(count for _, count in rest)),
        tail=tuple(value for value, _ in rest[:TAIL_NAMES]),
    )


def column_reference(name: str, kind: str, column: pd.Series) -> FeatureReference:
    if kind == "numeric":
        return numeric_reference(name, column)
    if kind in ("categorical", "boolean"):
        return categorical_reference(name, column)
    return FeatureReference(
        name, UNCHECKED, rows=len(column), state=f"not checked ({kind} feature)"
    )


def prediction_kind(problem_type: str) -> str:
    return "numeric" if problem_type == "regression" else "categorical"


def build(
    features: pd.DataFrame,
    predictions: pd.Series | np.ndarray | None,
    *,
    schema: FeatureSchema,
    problem_type: str,
    seed: int = 0,
) -> Reference:
    """The reference of the training rows `features` (the model's columns)
    and of the model's predictions on the held-out rows."""
    found = []
    for feature in schema:
        if feature.name not in features.columns:
            found.append(
                FeatureReference(
                    feature.name, UNCHECKED, state="not in the training rows"
                )
            )
            continue
        found.append(
            column_reference(feature.name, feature.kind, features[feature.name])
        )
    prediction = None
    if predictions is not None:
        prediction = column_reference(
            "prediction",
            prediction_kind(problem_type),
            pd.Series(np.asarray(predictions)),
        )
    return Reference(
        rows=len(features), features=tuple(found), prediction=prediction, seed=seed
    )


def save(version: ModelVersion, reference: Reference) -> None:
    """Keep the version's reference (replacing an older one)."""
    DriftReference.objects.update_or_create(
        version=version, defaults={"data": reference.to_json()}
    )


def for_version(version: ModelVersion) -> Reference:
    """The version's saved reference; unavailable, saying why, when none is."""
    row = DriftReference.objects.filter(version=version).only("data").first()
    if row is None:
        return Reference.unavailable(
            "not built yet (manage.py drift_reference --missing builds it)"
        )
    return Reference.from_json(row.data)
