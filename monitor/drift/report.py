"""What a drift check is told (DriftSettings) and what it finds (DriftReport,
FeatureDrift), as typed, JSON-serialisable values."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from monitor.drift import methods

AUTO = ""  # the method Evidently would choose


class DriftSettingsError(ValueError):
    """Per-model drift settings that cannot be used; the message names the key."""


@dataclass(frozen=True)
class DriftSettings:
    """Per-model overrides; the defaults are Evidently's (DataDriftPreset)."""

    methods: dict[str, str] = field(default_factory=dict)  # feature -> method
    numeric_method: str = AUTO
    categorical_method: str = AUTO
    prediction_method: str = AUTO
    p_value_threshold: float = 0.05
    distance_threshold: float = 0.1
    thresholds: dict[str, float] = field(default_factory=dict)  # feature -> value
    ignored: tuple[str, ...] = ()
    drift_share: float = 0.5  # dataset drift when this share of features drift

    def __post_init__(self) -> None:
        chosen = {
            **{f"methods.{k}": v for k, v in self.methods.items()},
            "numeric_method": self.numeric_method,
            "categorical_method": self.categorical_method,
            "prediction_method": self.prediction_method,
        }
        for key, method in chosen.items():
            if method != AUTO and method not in methods.METHODS:
                raise DriftSettingsError(
                    f"drift settings: {key} is {method!r}; choose one of "
                    f"{', '.join(methods.METHODS)}"
                )
        if self.categorical_method in methods.NUMERIC_ONLY:
            raise DriftSettingsError(
                f"drift settings: categorical_method {self.categorical_method!r} "
                "works on numbers only"
            )
        limits = {
            "p_value_threshold": self.p_value_threshold,
            "distance_threshold": self.distance_threshold,
            "drift_share": self.drift_share,
            **{f"thresholds.{k}": v for k, v in self.thresholds.items()},
        }
        for key, value in limits.items():
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise DriftSettingsError(f"drift settings: {key} must be a number")
            if value < 0 or (key == "drift_share" and value > 1):
                raise DriftSettingsError(
                    f"drift settings: {key} is {value}; it must be "
                    + ("between 0 and 1" if key == "drift_share" else "at least 0")
                )

    def method_for(self, name: str, kind: str) -> str:
        if name in self.methods:
            return self.methods[name]
        if name == "prediction" and self.prediction_method:
            return self.prediction_method
        return self.numeric_method if kind == "numeric" else self.categorical_method

    def threshold_for(self, name: str, method: str) -> float:
        if name in self.thresholds:
            return float(self.thresholds[name])
        return methods.default_threshold(
            method, self.p_value_threshold, self.distance_threshold
        )

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["ignored"] = list(self.ignored)
        return data

    @classmethod
    def from_json(cls, data: dict | None) -> DriftSettings:
        data = dict(data or {})
        names = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise DriftSettingsError(
                f"drift settings: unknown key(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(names))}"
            )
        if "ignored" in data:
            data["ignored"] = tuple(str(name) for name in data["ignored"] or ())
        return cls(**data)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's (or the predictions') drift. `state` is "" when the test
    ran, else why it did not ("no rows", "all missing", ...)."""

    name: str
    kind: str
    method: str = ""
    score: float | None = None  # the p-value or the distance
    statistic: float | None = None  # KS D, chi-squared or Z (p-value methods)
    threshold: float | None = None
    drifted: bool = False
    psi: float | None = None
    rows: int = 0
    missing_share: float | None = None
    reference_missing_share: float | None = None
    unseen_share: float | None = None  # categorical: values the reference lacked
    out_of_range_share: float | None = None  # numeric: beyond the reference's range
    wrong_type_share: float | None = None  # present but not of the trained type
    importance: float | None = None
    state: str = ""
    # The distributions behind the test, for the pages: reference and current
    # counts per bin or category (labels aligned).
    bins: dict = field(default_factory=dict)

    @property
    def checked(self) -> bool:
        return not self.state

    @property
    def p_value(self) -> float | None:
        return self.score if self.method in methods.P_VALUE_METHODS else None

    @property
    def distance(self) -> float | None:
        return None if self.method in methods.P_VALUE_METHODS else self.score

    def to_json(self) -> dict:
        return {
            item.name: _finite(getattr(self, item.name))
            for item in dataclasses.fields(self)
        }

    @classmethod
    def from_json(cls, data: dict) -> FeatureDrift:
        names = {item.name for item in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class DriftReport:
    """A run's drift: features by permutation importance, then the rest."""

    rows: int = 0
    features: tuple[FeatureDrift, ...] = ()
    prediction: FeatureDrift | None = None
    drift_share_threshold: float = 0.5
    state: str = ""  # "" or why nothing was checked ("no reference: ...")

    @property
    def checked(self) -> list[FeatureDrift]:
        return [feature for feature in self.features if feature.checked]

    @property
    def drifted(self) -> list[str]:
        return [feature.name for feature in self.features if feature.drifted]

    @property
    def drift_share(self) -> float | None:
        """Drifted share of the checked features (Evidently's share of drifted
        columns); None when none could be checked."""
        checked = self.checked
        if not checked:
            return None
        return sum(feature.drifted for feature in checked) / len(checked)

    @property
    def dataset_drift(self) -> bool:
        share = self.drift_share
        return share is not None and share >= self.drift_share_threshold

    @property
    def prediction_drift(self) -> bool:
        return self.prediction is not None and self.prediction.drifted

    def get(self, name: str) -> FeatureDrift | None:
        return next((f for f in self.features if f.name == name), None)

    def to_json(self) -> dict:
        return {
            "rows": self.rows,
            "state": self.state,
            "drift_share_threshold": self.drift_share_threshold,
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "drifted": self.drifted,
            "prediction_drift": self.prediction_drift,
            "features": [feature.to_json() for feature in self.features],
            "prediction": self.prediction.to_json() if self.prediction else None,
        }

    @classmethod
    def from_json(cls, data: dict) -> DriftReport:
        prediction = data.get("prediction")
        return cls(
            rows=int(data.get("rows") or 0),
            features=tuple(FeatureDrift.from_json(f) for f in data.get("features", ())),
            prediction=FeatureDrift.from_json(prediction) if prediction else None,
            drift_share_threshold=float(data.get("drift_share_threshold", 0.5)),
            state=str(data.get("state") or ""),
        )


def _finite(value: Any) -> Any:
    """JSON has no inf or NaN: a chi-squared of inf is stored as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
