"""What a model version tells the other apps about itself, as typed values:
its input schema (Feature, FeatureSchema) and its lineage (Lineage).

They are stored as JSON on the version's row (ModelVersion.features and
.lineage, through FeatureSchemaField and LineageField below); this module is
the one place that turns them into JSON and back. Keys a newer version of the
platform wrote and this one does not know are kept, not dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import models

KINDS = ("numeric", "categorical", "boolean", "datetime", "text")


@dataclass(frozen=True)
class Feature:
    """One input column of a model, as the training data had it."""

    name: str
    dtype: str  # the pandas dtype it was trained with ("int64", "object", ...)
    kind: str  # one of KINDS
    missing: int = 0  # missing values in the training rows
    min: Any = None  # numeric and datetime features
    max: Any = None
    mean: float | None = None  # numeric features
    categories: tuple = ()  # categorical and boolean features (at most 200)

    @property
    def is_numeric(self) -> bool:
        return self.kind == "numeric"

    @property
    def is_text_category(self) -> bool:
        """A categorical feature trained on text (coded by the feature pipeline)."""
        return self.kind == "categorical" and self.dtype == "object"

    def to_json(self) -> dict:
        data: dict[str, Any] = {
            "name": self.name,
            "dtype": self.dtype,
            "kind": self.kind,
            "missing": self.missing,
        }
        for key in ("min", "max", "mean"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.categories:
            data["categories"] = list(self.categories)
        return data

    @classmethod
    def from_json(cls, data: dict) -> Feature:
        return cls(
            name=str(data["name"]),
            dtype=str(data.get("dtype", "object")),
            kind=str(data.get("kind", "text")),
            missing=int(data.get("missing") or 0),
            min=data.get("min"),
            max=data.get("max"),
            mean=data.get("mean"),
            categories=tuple(data.get("categories") or ()),
        )


@dataclass(frozen=True)
class FeatureSchema:
    """A version's input columns, in training order."""

    features: tuple[Feature, ...] = ()

    def __iter__(self) -> Iterator[Feature]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    def __bool__(self) -> bool:
        return bool(self.features)

    def __getitem__(self, index: int) -> Feature:
        return self.features[index]

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def get(self, name: str) -> Feature | None:
        return next((f for f in self.features if f.name == name), None)

    def of_kind(self, *kinds: str) -> list[Feature]:
        return [feature for feature in self.features if feature.kind in kinds]

    def to_json(self) -> list[dict]:
        return [feature.to_json() for feature in self.features]

    @classmethod
    def from_json(cls, data: list[dict] | None) -> FeatureSchema:
        return cls(tuple(Feature.from_json(item) for item in data or ()))


@dataclass(frozen=True)
class DatasetRef:
    """The exact data a version was trained on."""

    sha256: str | None = None
    name: str | None = None
    rows: int | None = None
    columns: tuple[str, ...] = ()
    # Where the rows came from beyond the file (e.g. a datasource and query).
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "sha256": self.sha256,
            "name": self.name,
            "rows": self.rows,
            "columns": list(self.columns),
            **self.extra,
        }

    @classmethod
    def from_json(cls, data: dict | None) -> DatasetRef:
        data = dict(data or {})
        known = {k: data.pop(k, None) for k in ("sha256", "name", "rows", "columns")}
        return cls(
            sha256=known["sha256"],
            name=known["name"],
            rows=known["rows"],
            columns=tuple(known["columns"] or ()),
            extra=data,
        )


@dataclass(frozen=True)
class Lineage:
    """How a version came to be, and what was measured of it since."""

    dataset: DatasetRef = field(default_factory=DatasetRef)
    label: str = ""
    problem_type: str = ""
    inferred_problem_type: str = ""
    inference_reason: str = ""
    eval_metric: str = ""
    greater_is_better: bool = True
    preset: str = ""
    time_limit: int | None = None
    seed: int = 0
    excluded: tuple[str, ...] = ()
    holdout_fraction: float | None = None
    train_rows: int | None = None
    test_rows: int | None = None
    libraries: dict = field(default_factory=dict)  # name -> version
    fit_seconds: float | None = None
    best_model: str = ""
    models_trained: int | None = None
    size_bytes: int | None = None
    warnings: tuple[str, ...] = ()
    reference: dict = field(default_factory=dict)  # reference statistics
    trained_by: str | None = None
    trained_at: str | None = None
    custom_hyperparameters: bool = False
    stage_seconds: dict = field(default_factory=dict)
    # Measured after the version is ready (registry.training.analyse).
    latency_ms: float | None = None
    rows_per_second: float | None = None
    analysis_seconds: dict = field(default_factory=dict)
    # Written by registry.acceleration and registry.services.prune.
    compiled: dict = field(default_factory=dict)
    pruned: dict = field(default_factory=dict)
    # The inference shortcuts the last load took (registry.acceleration).
    shortcuts: dict = field(default_factory=dict)
    # Keys this code does not know (written by a newer platform): kept.
    extra: dict = field(default_factory=dict)

    def replace(self, **changes: Any) -> Lineage:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        data: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            if item.name == "extra":
                continue
            value = getattr(self, item.name)
            if isinstance(value, DatasetRef):
                value = value.to_json()
            elif isinstance(value, tuple):
                value = list(value)
            data[item.name] = value
        return {**self.extra, **data}

    @classmethod
    def from_json(cls, data: dict | None) -> Lineage:
        data = dict(data or {})
        names = {item.name for item in dataclasses.fields(cls)} - {"extra"}
        known = {key: data.pop(key) for key in list(data) if key in names}
        if "dataset" in known:
            known["dataset"] = DatasetRef.from_json(known["dataset"])
        for key in ("excluded", "warnings"):
            if key in known:
                known[key] = tuple(known[key] or ())
        # A stored null takes the field's default (every field has one).
        known = {key: value for key, value in known.items() if value is not None}
        return cls(**known, extra=data)


# --- Stored on the version's row --------------------------------------------


class _Typed:
    """Keeps the attribute typed whatever is assigned: JSON from the database
    or a caller, or the contract itself."""

    def __init__(self, field_: ContractField) -> None:
        self.field = field_

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return instance.__dict__[self.field.attname]

    def __set__(self, instance, value) -> None:
        instance.__dict__[self.field.attname] = self.field.contract_of(value)


class ContractField(models.JSONField):
    """A JSONField whose attribute holds a contract (to_json / from_json)."""

    contract: type

    def contribute_to_class(self, cls, name, *args, **kwargs) -> None:
        super().contribute_to_class(cls, name, *args, **kwargs)
        setattr(cls, self.attname, _Typed(self))

    def contract_of(self, value):
        if isinstance(value, self.contract):
            return value
        return self.contract.from_json(value)

    def get_prep_value(self, value):
        if isinstance(value, self.contract):
            value = value.to_json()
        return super().get_prep_value(value)

    def value_to_string(self, obj) -> str:
        return self.get_prep_value(self.value_from_object(obj))


class FeatureSchemaField(ContractField):
    contract = FeatureSchema


class LineageField(ContractField):
    contract = Lineage
