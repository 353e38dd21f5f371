"""Shadow scoring: a challenger predicts beside its champion in the champion's
dispatch runs, for the challenge's next N runs, and is never written to the
sink. Per run the two are compared on agreement (ShadowRun), and once the
actuals arrive on realised metrics: both predictions are kept per row with
the run's key columns in a Parquet file under paths.shadow (never in the
sink), which monitor.realised joins to the actuals. The file goes once the
challenge is decided and scored one last time (`remove_decided`).

The dispatch runner asks `watch(run, version)` once the model is resolved,
hands each predicted batch to `observe`, and calls `finish()` after a run
that committed. Shadow scoring never fails a run: an error is recorded on the
shadow's row instead.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db import IntegrityError
from django.db.models import Q
from django.utils import timezone

from mlframework.events.log import log_event
from registry import services
from registry.models import Challenge, ModelVersion, ShadowRun

logger = logging.getLogger("mlframework.registry")

SOURCE = "registry"
SHADOWED = (Challenge.State.PENDING, Challenge.State.HELD)
SUMMARY_LABELS = 20  # label counts kept per side
# The stored predictions' own columns, which no key column can take (not
# valid identifiers for odbc.quote): "<side>" and "<side>proba_<class>".
CHAMPION, CHALLENGER = "__champion__", "__challenger__"


def folder() -> Path:
    return settings.CONFIG.path(settings.CONFIG.paths.shadow)


def predictions_path(item: ShadowRun) -> Path | None:
    """Where a shadow's stored predictions are, or None if none were kept."""
    return folder() / item.predictions_file if item.predictions_file else None


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
class _Store:
    """The rows' keys and both predictions, written batch by batch to one
    Parquet file (memory bounded by a batch)."""

    path: Path
    name: str  # relative to folder()
    keys: list[str]
    writer: pq.ParquetWriter | None = None
    error: str = ""

    def write(self, batch, champion, challenger) -> None:
        if self.error:
            return
        try:
            columns = {
                k: batch.column(batch.schema.get_field_index(k)) for k in self.keys
            }
            for side, prediction in ((CHAMPION, champion), (CHALLENGER, challenger)):
                for name, values in prediction.frame().items():
                    columns[side + name] = pa.array(values.to_numpy(), from_pandas=True)
            table = pa.Table.from_pydict(columns)
            if self.writer is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.writer = pq.ParquetWriter(self.path, table.schema)
            self.writer.write_table(table.cast(self.writer.schema))
        except Exception as exc:  # the agreement stands without the file
            self.error = f"{type(exc).__name__}: {exc}"[:500]
            self.close()
            self.remove()

    def close(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception as exc:
                self.error = self.error or f"{type(exc).__name__}: {exc}"[:500]
            self.writer = None

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


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
    store: _Store | None = None
    probabilities: bool = False

    @property
    def numeric(self) -> bool:
        return not self.challenge.challenger.is_classification

    def observe(self, batch: pa.RecordBatch, prediction: services.BatchPrediction):
        if self.error:
            return
        try:
            shadow = services.predict_batch(
                self.challenge.challenger, batch, probabilities=self.probabilities
            )
        except Exception as exc:  # never the champion's run's failure
            self.error = f"{type(exc).__name__}: {exc}"[:1000]
            if self.store is not None:
                self.store.close()
                self.store.remove()
            return
        if self.store is not None:
            self.store.write(batch, prediction, shadow)
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
        fields.update(self._stored(run))
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

    def _stored(self, run) -> dict:
        """The predictions file's fields, or why realised metrics cannot come."""
        store = self.store
        if store is not None:
            store.close()
        if self.error:
            return {}
        if store is None:
            reason = (
                f"dispatch {run.dispatch.name} writes no key columns, so the "
                "shadow's predictions cannot be joined to the actuals"
            )
        elif store.error:
            store.remove()
            reason = f"the shadow's predictions could not be stored: {store.error}"
        elif not store.path.exists():
            return {}  # no rows: nothing to score
        else:
            return {"predictions_file": store.name}
        return {"realised_state": ShadowRun.Realised.FAILED, "realised_reason": reason}

    def discard(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store.remove()


@dataclass
class ShadowPass:
    """The shadows of one dispatch run: every challenger still shadowing the
    run's version."""

    run: object
    shadows: list[Shadow]

    def observe(self, batch, prediction: services.BatchPrediction) -> None:
        for shadow in self.shadows:
            shadow.observe(batch, prediction)

    def discard(self) -> None:
        """A run that failed: its shadows' stored predictions go."""
        for shadow in self.shadows:
            try:
                shadow.discard()
            except Exception:
                logger.exception("shadow of challenge %s", shadow.challenge.pk)

    def finish(self) -> list[ShadowRun]:
        """Record each shadow of a run that committed."""
        recorded = []
        for shadow in self.shadows:
            try:
                item = shadow.record(self.run)
            except Exception:
                logger.exception("shadow of challenge %s", shadow.challenge.pk)
                shadow.discard()
                continue
            if item is None:  # recorded already: its file is this one's name
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
            _shadow(run, challenge)
            for challenge in challenges
            if challenge.challenger.is_ready and challenge.shadow_left > 0
        ]
    except Exception:  # shadows never stop a run
        logger.exception("shadow challenges of %s", version)
        return None
    return ShadowPass(run, shadows) if shadows else None


def _shadow(run, challenge: Challenge) -> Shadow:
    dispatch = run.dispatch
    keys = list(dispatch.key_columns or [])
    store = None
    if keys:
        name = f"{challenge.pk}/{run.pk}.parquet"
        store = _Store(folder() / name, name, keys)
    return Shadow(
        challenge,
        store=store,
        probabilities=bool(dispatch.include_probabilities),
    )


# --------------------------------------------------------------------------
# Realised metrics (computed by monitor.realised, stored here)
# --------------------------------------------------------------------------


def to_score(model, run_ids) -> list[ShadowRun]:
    """The shadows in the model's runs `run_ids` to score against the
    actuals: of challenges still shadowing, and of decided ones whose file
    is still there (scored one last time before remove_decided)."""
    return list(
        ShadowRun.objects.filter(challenge__model=model, dispatch_run_id__in=run_ids)
        .filter(Q(challenge__state__in=SHADOWED) | ~Q(predictions_file=""))
        .select_related("challenge__challenger", "challenge__champion")
        .order_by("dispatch_run_id", "pk")
    )


@dataclass(frozen=True)
class RealisedShadow:
    """One shadow's realised metrics as monitor.realised computed them."""

    state: str
    reason: str = ""
    rows: int = 0
    champion: dict[str, float] = field(default_factory=dict)
    challenger: dict[str, float] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)


def store_realised(item: ShadowRun, result: RealisedShadow, now=None) -> None:
    """Keep what was computed; a shadow that failed in its run keeps its
    error and gets no realised metrics."""
    values = {
        "realised_state": result.state,
        "realised_reason": result.reason[:2000],
        "realised_rows": result.rows,
        "realised": {
            "champion": result.champion,
            "challenger": result.challenger,
            "absent": result.absent,
        },
        "realised_computed": now or timezone.now(),
    }
    ShadowRun.objects.filter(pk=item.pk).update(**values)
    for name, value in values.items():
        setattr(item, name, value)


# Metrics whose value on the pooled rows follows from the runs' values and
# matched rows: accuracy and MAE are row-weighted means, RMSE the root of one.
POOLED = ("accuracy", "mae", "rmse")


def overall(items) -> dict:
    """Both sides' metrics on the matched rows of every scored shadow pooled
    ({} when none is scored yet)."""
    scored = [
        i
        for i in items
        if i.realised_state == ShadowRun.Realised.SCORED and i.realised_rows
    ]
    rows = sum(i.realised_rows for i in scored)
    if not rows:
        return {}
    result = {"runs": len(scored), "rows_matched": rows}
    for side in ("champion", "challenger"):
        values = {}
        for name in POOLED:
            found = [(i.realised.get(side) or {}).get(name) for i in scored]
            if any(v is None for v in found):
                continue
            weights = [i.realised_rows for i in scored]
            if name == "rmse":
                squares = sum(w * v * v for w, v in zip(weights, found, strict=True))
                values[name] = math.sqrt(squares / rows)
            else:
                values[name] = (
                    sum(w * v for w, v in zip(weights, found, strict=True)) / rows
                )
        result[side] = values
    result["pairs"] = [
        [name, result["champion"][name], result["challenger"][name]]
        for name in POOLED
        if name in result["champion"] and name in result["challenger"]
    ]
    return result


def mark_unscored(model, reason: str, now=None) -> int:
    """The model's shadows still shadowing, when no actuals can be read."""
    return ShadowRun.objects.filter(
        challenge__model=model, challenge__state__in=SHADOWED
    ).update(
        realised_state=ShadowRun.Realised.FAILED,
        realised_reason=reason[:2000],
        realised_computed=now or timezone.now(),
    )


def remove_decided(model) -> int:
    """The stored predictions of the model's decided challenges: the
    challenger no longer competes, so its realised figures are final."""
    items = ShadowRun.objects.filter(challenge__model=model).exclude(
        predictions_file=""
    )
    return _remove(items.exclude(challenge__state__in=SHADOWED))


def prune_files(before, batch: int) -> int:
    """The retention prune's share: the stored predictions of shadows older
    than the dispatch runs' retention (their runs go at the same age, and a
    model without actuals query is never scored to remove them)."""
    items = ShadowRun.objects.filter(created__lt=before).exclude(predictions_file="")
    removed = 0
    while chunk := list(items[:batch]):
        done = _remove(chunk)
        removed += done
        if done < len(chunk):
            break  # files that cannot be removed now: the next pass retries
    return removed


def _remove(items) -> int:
    removed = 0
    for item in items:
        path = predictions_path(item)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            logger.exception("removing %s", path)
            continue
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # the challenge's folder, once empty
        ShadowRun.objects.filter(pk=item.pk).update(predictions_file="")
        removed += 1
    return removed
