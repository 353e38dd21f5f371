"""Predict cases with a model version, time it, and log it as an event.

Views and the API both end here, so every Showroom prediction is checked the
same way and recorded the same way (source "showroom").
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from mlframework.events import pages
from mlframework.events.log import log_event
from mlframework.metrics import instruments as metrics
from registry import services as registry
from registry.services import BatchPrediction
from showroom import schema

SOURCE = "showroom"
KIND = "prediction"


class TooManyRows(ValueError):
    """More rows than settings.CONFIG.showroom.max_rows in one call."""


class InvalidCases(ValueError):
    """Rows that do not fit the schema; .errors maps "rows[i].feature" to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        count = len(errors)
        first = next(iter(errors.items()))
        super().__init__(
            f"{count} invalid value{'s' if count != 1 else ''}: "
            f"{first[0]} {first[1][0]}" + (" (and more)" if count > 1 else "")
        )


@dataclass
class RowResult:
    inputs: dict[str, Any]
    prediction: Any
    probabilities: dict[str, float] = field(default_factory=dict)
    unseen: dict[str, Any] = field(default_factory=dict)
    out_of_range: dict[str, Any] = field(default_factory=dict)

    @property
    def top_probability(self) -> float | None:
        return max(self.probabilities.values()) if self.probabilities else None


@dataclass
class Outcome:
    version: Any
    results: list[RowResult]
    latency_ms: float
    ignored: list[str] = field(default_factory=list)

    @property
    def score(self) -> tuple[str, float | None]:
        return held_out_score(self.version)


def held_out_score(version) -> tuple[str, float | None]:
    """The version's eval metric and its held-out value, for context."""
    metric = version.eval_metric
    value = (version.scores or {}).get(metric)
    return metric, value


def max_rows() -> int:
    return settings.CONFIG.showroom.max_rows


def predict_cases(
    version,
    rows: list,
    *,
    user=None,
    origin: str = "form",
    prefix: str = "rows",
) -> Outcome:
    """Check the rows, predict them in one call, log one event, return results.

    Raises TooManyRows, InvalidCases, or the registry's errors (SchemaError,
    ModelUnavailable); nothing is logged for a call that was refused.
    """
    limit = max_rows()
    if len(rows) > limit:
        raise TooManyRows(
            _(
                "%(count)s rows sent; at most %(limit)s rows per call "
                "(showroom.max_rows in config.yaml)."
            )
            % {"count": len(rows), "limit": limit}
        )
    if not rows:
        raise InvalidCases({prefix: ["give at least one row"]})
    checked = schema.check_rows(version.features, rows, prefix=prefix)
    if not checked.ok:
        raise InvalidCases(checked.errors)
    started = time.perf_counter()
    predicted = registry.predict_batch(
        version, checked.frame, probabilities=version.is_classification
    )
    latency_ms = (time.perf_counter() - started) * 1000
    results = _results(version, checked, predicted)
    outcome = Outcome(version, results, latency_ms, checked.ignored)
    _log(outcome, user=user, origin=origin)
    metrics.count_predictions(version.model.name, version.number, origin, len(results))
    return outcome


def _results(
    version, checked: schema.CheckedRows, predicted: BatchPrediction
) -> list[RowResult]:
    inputs = checked.rows
    proba = predicted.probabilities
    results = []
    for position, label in enumerate(predicted.labels):
        probabilities = (
            {
                str(name): round(float(proba[name].iloc[position]), 6)
                for name in version.classes
            }
            if proba is not None
            else {}
        )
        results.append(
            RowResult(
                inputs={k: jsonable(v) for k, v in inputs[position].items()},
                prediction=jsonable(label),
                probabilities=probabilities,
                unseen={k: jsonable(v) for k, v in checked.unseen[position].items()},
                out_of_range={
                    k: jsonable(v) for k, v in checked.out_of_range[position].items()
                },
            )
        )
    return results


def jsonable(value: Any) -> Any:
    """numpy / pandas scalars as plain JSON values."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _log(outcome: Outcome, *, user, origin: str) -> None:
    version = outcome.version
    count = len(outcome.results)
    first = outcome.results[0].prediction
    summary = f"{first}" if count == 1 else f"{count} rows"
    log_event(
        SOURCE,
        KIND,
        f"{version} predicted {summary} in {outcome.latency_ms:.1f} ms ({origin})",
        user=user,
        model_version=version,
        data={
            "model": version.model.name,
            "version": version.number,
            "origin": origin,
            "latency_ms": round(outcome.latency_ms, 3),
            "rows": count,
            "inputs": [r.inputs for r in outcome.results],
            "outputs": [
                {"prediction": r.prediction, "probabilities": r.probabilities}
                for r in outcome.results
            ],
            # Names only: the values are in inputs already.
            "unseen": [sorted(r.unseen) for r in outcome.results],
        },
    )


def recent_predictions(model, size: int = 10) -> list:
    """The latest Showroom predictions of any version of a model."""
    version_ids = list(model.versions.values_list("pk", flat=True))
    if not version_ids:
        return []
    return pages.recent(
        size, source=SOURCE, kind=KIND, model_version_id__in=version_ids
    )
