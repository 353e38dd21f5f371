"""Shadow scoring: a challenger predicts beside its champion in the champion's
dispatch runs, for the challenge's next N runs, and is never written to the
sink. Per run the two are compared on agreement (ShadowRun).

The dispatch runner asks `watch(run, version)` once the model is resolved,
hands each predicted batch to `observe`, and calls `finish()` after a run
that committed. Shadow scoring never fails a run: an error is recorded on the
shadow's row instead.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from django.db import IntegrityError

from mlframework.events.log import log_event
from registry import services
from registry.models import Challenge, ModelVersion, ShadowRun

logger = logging.getLogger("mlframework.registry")

SOURCE = "registry"
SHADOWED = (Challenge.State.PENDING, Challenge.State.HELD)
SUMMARY_LABELS = 20  # label counts kept per side


@dataclass
class _Side:
    """Running summary of one version's predictions in a run."""

    counts: Counter = field(default_factory=Counter)
    total: float = 0.0
    squares: float = 0.0

    def add(self, labels: np.ndarray, numeric: bool) -> None:
        if numeric:
            values = labels.astype("float64")
            self.total += float(values.sum())
            self.squares += float((values**2).sum())
        else:
            self.counts.update(str(value) for value in labels)

    def summary(self, rows: int, numeric: bool) -> dict:
        if not numeric:
            return {"labels": dict(self.counts.most_common(SUMMARY_LABELS))}
        if not rows:
            return {"mean": None, "std": None}
        mean = self.total / rows
        return {
            "mean": mean,
            "std": math.sqrt(max(0.0, self.squares / rows - mean**2)),
        }


@dataclass
class Shadow:
    """One challenger's shadow in one run."""

    challenge: Challenge
    rows: int = 0
    equal: int = 0
    absolute: float = 0.0
    champion: _Side = field(default_factory=_Side)
    challenger: _Side = field(default_factory=_Side)
    error: str = ""

    @property
    def numeric(self) -> bool:
        return not self.challenge.challenger.is_classification

    def observe(self, batch: pa.RecordBatch, prediction: services.BatchPrediction):
        if self.error:
            return
        try:
            shadow = services.predict_batch(self.challenge.challenger, batch)
        except Exception as exc:  # never the champion's run's failure
            self.error = f"{type(exc).__name__}: {exc}"[:1000]
            return
        old, new = np.asarray(prediction.labels), np.asarray(shadow.labels)
        self.rows += len(old)
        if self.numeric:
            self.absolute += float(
                np.abs(new.astype("float64") - old.astype("float64")).sum()
            )
        else:
            self.equal += int((old.astype(str) == new.astype(str)).sum())
        self.champion.add(old, self.numeric)
        self.challenger.add(new, self.numeric)

    def record(self, run) -> ShadowRun | None:
        rows = self.rows
        fields = {
            "dispatch_name": run.dispatch.name[:200],
            "rows": rows,
            "error": self.error,
            "summary": {
                "champion": self.champion.summary(rows, self.numeric),
                "challenger": self.challenger.summary(rows, self.numeric),
            },
        }
        if rows and not self.error:
            if self.numeric:
                fields["mean_abs_difference"] = self.absolute / rows
            else:
                fields["agreement"] = self.equal / rows
        try:
            return ShadowRun.objects.create(
                challenge=self.challenge, dispatch_run_id=run.pk, **fields
            )
        except IntegrityError:
            return None  # this run was recorded already (a retried finish)


@dataclass
class ShadowPass:
    """The shadows of one dispatch run: every challenger still shadowing the
    run's version."""

    run: object
    shadows: list[Shadow]

    def observe(self, batch, prediction: services.BatchPrediction) -> None:
        for shadow in self.shadows:
            shadow.observe(batch, prediction)

    def finish(self) -> list[ShadowRun]:
        """Record each shadow of a run that committed."""
        recorded = []
        for shadow in self.shadows:
            try:
                item = shadow.record(self.run)
            except Exception:
                logger.exception("shadow of challenge %s", shadow.challenge.pk)
                continue
            if item is None:
                continue
            recorded.append(item)
            log_event(
                SOURCE,
                "challenge.shadowed",
                f"{shadow.challenge.challenger} shadowed "
                f"{shadow.challenge.champion} in dispatch run {self.run.pk}: "
                + _agreement_text(item),
                model_version=shadow.challenge.challenger,
                dispatch_run=self.run,
                data={
                    "challenge": shadow.challenge.pk,
                    "rows": item.rows,
                    "agreement": item.agreement,
                    "mean_abs_difference": item.mean_abs_difference,
                    "error": item.error,
                },
            )
        return recorded


def _agreement_text(item: ShadowRun) -> str:
    if item.error:
        return f"failed: {item.error}"
    if item.agreement is not None:
        return f"{item.agreement:.1%} of {item.rows} rows agree"
    if item.mean_abs_difference is not None:
        difference = item.mean_abs_difference
        return f"mean absolute difference {difference:.4g} on {item.rows} rows"
    return "no rows"


def watch(run, version: ModelVersion) -> ShadowPass | None:
    """The shadows for a run of `version`, or None (the usual case)."""
    try:
        challenges = Challenge.objects.filter(
            champion=version, state__in=SHADOWED, shadow_runs__gt=0
        ).select_related("challenger__model", "champion")
        shadows = [
            Shadow(challenge)
            for challenge in challenges
            if challenge.challenger.is_ready and challenge.shadow_left > 0
        ]
    except Exception:  # shadows never stop a run
        logger.exception("shadow challenges of %s", version)
        return None
    return ShadowPass(run, shadows) if shadows else None
