"""Column kinds, input schemas and reference statistics of a frame.

Used for the dataset page (profile + histograms), for a version's input
schema, and for the per-feature reference statistics kept for drift checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MAX_CATEGORIES = 50  # more distinct strings than this (and mostly unique): text
HISTOGRAM_BINS = 10
TOP_VALUES = 10


def column_kind(column: pd.Series) -> str:
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    values = column.dropna()
    if values.empty:
        return "categorical"
    distinct = values.nunique()
    if distinct <= MAX_CATEGORIES:
        return "categorical"
    average_length = values.astype(str).str.len().mean()
    if distinct > 0.5 * len(values) and average_length > 20:
        return "text"
    return "categorical"


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def feature_schema(frame: pd.DataFrame) -> list[dict]:
    """The contract's input schema, in column order."""
    features = []
    for name, column in frame.items():
        kind = column_kind(column)
        feature = {
            "name": str(name),
            "dtype": str(column.dtype),
            "kind": kind,
            "missing": int(column.isna().sum()),
        }
        values = column.dropna()
        if kind == "numeric" and not values.empty:
            feature.update(
                min=_plain(values.min()),
                max=_plain(values.max()),
                mean=_plain(float(values.mean())),
            )
        elif kind in ("categorical", "boolean"):
            counts = values.value_counts()
            feature["categories"] = sorted(
                (_plain(v) for v in counts.index[:200]), key=lambda v: str(v)
            )
        elif kind == "datetime" and not values.empty:
            feature.update(min=_plain(values.min()), max=_plain(values.max()))
        features.append(feature)
    return features


def histogram(column: pd.Series) -> dict:
    """Bins and counts for numbers; top values and counts for the rest."""
    values = column.dropna()
    kind = column_kind(column)
    if kind == "numeric" and not values.empty:
        numbers = values.astype("float64")
        finite = numbers[np.isfinite(numbers)]
        if finite.empty:
            return {"type": "numeric", "edges": [], "counts": []}
        counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
        return {
            "type": "numeric",
            "edges": [_plain(float(edge)) for edge in edges],
            "counts": [int(count) for count in counts],
        }
    counts = values.astype(str).value_counts()
    top = counts.iloc[:TOP_VALUES]
    return {
        "type": "categorical",
        "labels": [str(label) for label in top.index],
        "counts": [int(count) for count in top.to_numpy()],
        "other": int(counts.iloc[TOP_VALUES:].sum()),
    }


def reference_statistics(frame: pd.DataFrame) -> dict:
    """Per feature, what later drift checks compare new data against."""
    reference = {}
    for name, column in frame.items():
        values = column.dropna()
        stats = {
            "kind": column_kind(column),
            "count": len(column),
            "missing_fraction": _plain(float(column.isna().mean()))
            if len(column)
            else 0.0,
        }
        if stats["kind"] == "numeric" and not values.empty:
            numbers = values.astype("float64")
            quantiles = numbers.quantile([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
            stats.update(
                mean=_plain(float(numbers.mean())),
                std=_plain(float(numbers.std())) if len(numbers) > 1 else 0.0,
                quantiles={str(q): _plain(float(v)) for q, v in quantiles.items()},
                histogram=histogram(numbers),
            )
        else:
            frequencies = values.astype(str).value_counts(normalize=True)
            stats["frequencies"] = {
                str(k): _plain(float(v)) for k, v in frequencies.iloc[:100].items()
            }
        reference[str(name)] = stats
    return reference


def profile(frame: pd.DataFrame, *, sample_rows: int = 10) -> dict:
    """The dataset page: per column kind, dtype, missing, distinct, histogram."""
    columns = []
    for name, column in frame.items():
        values = column.dropna()
        entry = {
            "name": str(name),
            "dtype": str(column.dtype),
            "kind": column_kind(column),
            "missing": int(column.isna().sum()),
            "distinct": int(values.nunique()),
            "histogram": histogram(column),
        }
        if entry["kind"] == "numeric" and not values.empty:
            entry.update(
                min=_plain(values.min()),
                max=_plain(values.max()),
                mean=_plain(float(values.astype("float64").mean())),
            )
        columns.append(entry)
    sample = (
        frame.head(sample_rows).astype(object).where(frame.head(sample_rows).notna())
    )
    return {
        "rows": len(frame),
        "columns": columns,
        "sample": [
            [_plain(value) if value is not None else None for value in row]
            for row in sample.itertuples(index=False)
        ],
    }


def id_like_columns(frame: pd.DataFrame) -> list[str]:
    """Columns whose every value is distinct and looks like a key, not a feature."""
    found = []
    rows = len(frame)
    if rows < 10:
        return found
    for name, column in frame.items():
        values = column.dropna()
        if len(values) < rows * 0.95 or values.nunique() != len(values):
            continue
        lowered = str(name).lower()
        named_like_id = lowered in ("id", "key", "uuid", "index") or lowered.endswith(
            ("_id", "id", "_key", "uuid")
        )
        if pd.api.types.is_integer_dtype(column.dtype) or (
            pd.api.types.is_float_dtype(column.dtype)
            and np.array_equal(values, values.round())
        ):
            monotonic = values.is_monotonic_increasing or values.is_monotonic_decreasing
            if named_like_id or monotonic:
                found.append(str(name))
        elif column.dtype == object and (
            named_like_id or values.astype(str).str.len().nunique() == 1
        ):
            found.append(str(name))
    return found


MAX_LABEL_VALUES = 1000  # distinct label values counted exactly; more is "many"


@dataclass
class LabelStats:
    """A label column summarised in bounded memory, so that a web request can
    check the label of a file of any length batch by batch."""

    present: int = 0
    missing: int = 0
    counts: dict = field(default_factory=dict)
    many: bool = False  # more than MAX_LABEL_VALUES distinct values
    numeric: bool = True
    first: Any = None

    @classmethod
    def of(cls, column: pd.Series) -> LabelStats:
        stats = cls()
        stats.add(column)
        return stats

    def add(self, column: pd.Series) -> None:
        self.numeric = self.numeric and pd.api.types.is_numeric_dtype(column.dtype)
        values = column.dropna()
        self.missing += len(column) - len(values)
        if values.empty:
            return
        if self.present == 0:
            self.first = _plain(values.iloc[0])
        self.present += len(values)
        if self.many:
            return
        counted = values.value_counts(sort=False)
        if len(counted) > MAX_LABEL_VALUES:  # never a dict of a million floats
            self.many, self.counts = True, {}
            return
        for value, count in counted.items():
            key = _plain(value)
            self.counts[key] = self.counts.get(key, 0) + int(count)
        if len(self.counts) > MAX_LABEL_VALUES:
            self.many, self.counts = True, {}

    @property
    def distinct(self) -> int:
        """Exact up to MAX_LABEL_VALUES; beyond that MAX_LABEL_VALUES + 1."""
        return MAX_LABEL_VALUES + 1 if self.many else len(self.counts)

    def values(self) -> list:
        """Each distinct value once (none when there are many)."""
        return list(self.counts)

    def rare(self, below: int = 2) -> list:
        return [value for value, count in self.counts.items() if count < below]
