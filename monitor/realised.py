"""Realised performance: the predictions a model's dispatches wrote, joined to
the model's actuals query once the true labels have arrived, scored per run
and per day.

`compute(model)` reads the actuals (ModelMonitoring.actuals_*) and each recent
run's rows back from its sink, both read-only through mlframework.lib.odbc,
joins them on the key columns and stores a RealisedScore per run and per day
(the UTC day of the rows' scored_at). `findings()` turns the latest day into
the Monitor's metric-decline alert. Bad input becomes a state and a reason on
the scores, never an exception out of the monitor.

The metrics are those registry/training.py gives the held-out rows, so the two
compare: accuracy; F1 of the version's last class (AutoGluon's positive class)
for binary models, macro F1 for multiclass; ROC AUC from the proba_<class>
columns when the dispatch wrote them; RMSE and MAE for regression.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.db import transaction
from django.utils import timezone
from pandas.api import types as ptypes
from sklearn import metrics as skm

from dispatch import runner
from dispatch.models import DispatchRun, RunStatus
from mlframework.lib import odbc
from monitor.alerts import Finding
from monitor.models import (
    MetricScope,
    ModelMonitoring,
    RealisedScore,
    RealisedState,
    Rule,
)
from registry import shadow
from registry.models import ShadowRun

logger = logging.getLogger("mlframework.monitor")

# Rows per fetched batch of the actuals and of a run's sink rows.
BATCH_ROWS = 50_000
# Text values (keys, labels) are read with buffers this wide; a longer one is
# a clear error (odbc.read_batches), never silently cut.
MAX_TEXT_BYTES = 4096
# The columns the dispatch runner adds to every sink row (dispatch/runner.py).
PREDICTION, SCORED_AT, RUN_ID = "prediction", "scored_at", "run_id"
# The joined frame's own names, which no user column can take (not valid
# identifiers for odbc.quote).
_ACTUAL, _DAY = "__actual__", "__day__"
EXAMPLES = 3  # values quoted in a message


class RealisedError(Exception):
    """The realised scores of a model cannot be computed at all (no actuals
    query set); str() says why."""


class _Bad(Exception):
    """Input that cannot be scored; becomes a score's state and reason."""

    def __init__(self, message: str, state: str = RealisedState.FAILED) -> None:
        super().__init__(message)
        self.state = state


@dataclass(frozen=True)
class Score:
    """One run's or one day's realised score, as computed (before storing)."""

    scope: str
    version_id: int
    state: str
    run_id: int | None = None
    day: dt.date | None = None
    reason: str = ""
    rows_predicted: int = 0
    rows_matched: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Computation:
    """What one compute() did for a model."""

    model: str
    runs: list[Score]
    days: list[Score]
    error: str = ""  # why nothing could be joined (the actuals query)

    @property
    def ok(self) -> bool:
        return not self.error

    def summary(self) -> str:
        if self.error:
            return f"{self.model}: {self.error}"
        scored = sum(s.state == RealisedState.SCORED for s in self.runs)
        return (
            f"{self.model}: {scored} of {len(self.runs)} run(s) scored, "
            f"{len(self.days)} day(s)"
        )


# --------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------


def primary_metric(version) -> str:
    """The metric the decline alert compares: accuracy, or RMSE."""
    return "accuracy" if version.is_classification else "rmse"


def metric_names(version) -> list[str]:
    if not version.is_classification:
        return ["rmse", "mae"]
    f1 = "f1" if version.problem_type == "binary" else "f1_macro"
    return ["accuracy", f1, "roc_auc"]


def held_out(version) -> dict[str, float]:
    """The version's held-out scores under the realised metrics' names."""
    scores = version.scores or {}
    found = {
        name: float(scores[name])
        for name in metric_names(version)
        if isinstance(scores.get(name), int | float)
    }
    # AutoGluon's own key holds RMSE negated (higher is better).
    rmse = scores.get("root_mean_squared_error")
    if "rmse" not in found and not version.is_classification and rmse is not None:
        found["rmse"] = abs(float(rmse))
    return found


def is_worse(metric: str, realised: float, held: float, tolerance: float) -> bool:
    """Accuracy: lower by more than `tolerance` (absolute); RMSE, MAE: higher
    by more than `tolerance` of the held-out value (relative), as
    ModelMonitoring.metric_tolerance says."""
    if metric in ("rmse", "mae"):
        return realised > held * (1 + tolerance)
    return realised < held - tolerance


def score(
    version, truth: pd.Series, predicted: pd.Series, proba: pd.DataFrame | None
) -> tuple[dict[str, float], dict[str, str]]:
    """The realised metrics of matched rows, and those left out with why."""
    metrics: dict[str, float] = {}
    absent: dict[str, str] = {}
    if not version.is_classification:
        y_true, y_pred = truth.to_numpy("float64"), predicted.to_numpy("float64")
        metrics["rmse"] = float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
        metrics["mae"] = float(skm.mean_absolute_error(y_true, y_pred))
        return metrics, absent
    classes = list(version.classes)
    y_true, y_pred = truth.to_numpy(object), predicted.to_numpy(object)
    metrics["accuracy"] = float(skm.accuracy_score(y_true, y_pred))
    binary = version.problem_type == "binary"
    f1 = "f1" if binary else "f1_macro"
    try:
        metrics[f1] = float(
            skm.f1_score(
                y_true,
                y_pred,
                average="binary" if binary else "macro",
                pos_label=classes[-1] if binary else 1,
                zero_division=0,
            )
        )
    except ValueError as exc:  # labels the binary model never predicts
        absent[f1] = f"not computable: {exc}"
    if proba is None:
        absent["roc_auc"] = (
            "the dispatch wrote no probabilities (turn on include probabilities)"
        )
    elif proba.isna().any().any():
        absent["roc_auc"] = "some matched rows have no probabilities"
    elif len(set(y_true)) < 2:
        absent["roc_auc"] = "the matched actuals hold only one class"
    else:
        try:
            if binary:
                metrics["roc_auc"] = float(
                    skm.roc_auc_score(y_true == classes[-1], proba.iloc[:, -1])
                )
            else:
                metrics["roc_auc"] = float(
                    skm.roc_auc_score(
                        y_true,
                        proba.to_numpy("float64"),
                        multi_class="ovr",
                        average="macro",
                        labels=classes,
                    )
                )
        except ValueError as exc:
            absent["roc_auc"] = f"not computable: {exc}"
    return metrics, absent


# --------------------------------------------------------------------------
# Keys and labels
# --------------------------------------------------------------------------


def normal_key(values: pd.Series) -> pd.Series:
    """A key column in a form both sides agree on: integral numbers as Int64
    (SQLite INTEGER, MariaDB BIGINT, DECIMAL(10,0)), other numbers as float,
    times as naive UTC, text trimmed."""
    if ptypes.is_bool_dtype(values):
        return values.astype("Int64")
    if ptypes.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.astype("datetime64[ns]")
    if ptypes.is_numeric_dtype(values) or _all_decimal(values):
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        finite = numbers.dropna()
        if (finite == np.round(finite)).all() and (finite.abs() < 2**53).all():
            return numbers.astype("Int64")
        return numbers
    return values.astype("string").str.strip()


def _all_decimal(values: pd.Series) -> bool:
    present = values.dropna()
    return (
        values.dtype == object
        and not present.empty
        and present.map(lambda v: isinstance(v, int | float) or _is_decimal(v)).all()
    )


def _is_decimal(value) -> bool:
    return type(value).__name__ == "Decimal"


def match_keys(left: pd.Series, right: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Both sides of one key column normalised to the same kind: text that
    reads as numbers meets numbers as numbers; else both as text."""
    left, right = normal_key(left), normal_key(right)
    if left.dtype == right.dtype:
        return left, right
    kinds = {_kind(left), _kind(right)}
    if kinds <= {"number"}:
        return left.astype("float64"), right.astype("float64")
    if kinds == {"number", "text"}:
        text, number = (left, right) if _kind(left) == "text" else (right, left)
        parsed = pd.to_numeric(text, errors="coerce")
        if not (parsed.isna() & text.notna()).any():
            parsed = normal_key(parsed)
            if _kind(parsed) == "number" and parsed.dtype != number.dtype:
                parsed, number = parsed.astype("float64"), number.astype("float64")
            return (parsed, number) if text is left else (number, parsed)
    return _as_text(left), _as_text(right)


def _kind(values: pd.Series) -> str:
    if ptypes.is_numeric_dtype(values):
        return "number"
    if ptypes.is_datetime64_any_dtype(values):
        return "time"
    return "text"


def _as_text(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip()


def _labels(version, actual: pd.Series, column: str) -> pd.Series:
    """The true labels as the model's classes (or numbers), or _Bad naming
    the values that do not fit."""
    if not version.is_classification:
        numbers = pd.to_numeric(actual, errors="coerce")
        wrong = actual[numbers.isna() & actual.notna()]
        if len(wrong):
            raise _Bad(
                f"the label column {column} of the actuals holds "
                f"{_examples(wrong)}, not numbers; {version} predicts numbers"
            )
        return numbers.astype("float64")
    classes = list(version.classes)
    if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        numbers = pd.to_numeric(actual, errors="coerce")
        whole = numbers.notna() & (numbers == np.round(numbers))
        wrong = actual[~whole]
        if len(wrong):
            raise _Bad(
                f"the label column {column} of the actuals holds "
                f"{_examples(wrong)}; {version} predicts the classes "
                f"{_examples(pd.Series(classes))}"
            )
        labels = numbers.astype("int64").astype(object)
    else:
        labels = actual.astype(str).str.strip()
        classes = [str(c) for c in classes]
    if not labels.isin(classes).any():
        raise _Bad(
            f"none of the actual labels ({column}: {_examples(labels)}) is a "
            f"class {version} predicts ({_examples(pd.Series(classes), 10)})"
        )
    return labels


def _predictions(version, predicted: pd.Series) -> pd.Series:
    """The sink's prediction column in the labels' form (_labels)."""
    if not version.is_classification:
        return pd.to_numeric(predicted, errors="coerce").astype("float64")
    classes = list(version.classes)
    if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return pd.to_numeric(predicted, errors="coerce").astype("Int64").astype(object)
    return predicted.astype(str).str.strip()


def _examples(values: pd.Series, count: int = EXAMPLES) -> str:
    seen = list(dict.fromkeys(_plain(v) for v in values.dropna().tolist()))
    shown = ", ".join(repr(v) for v in seen[:count])
    return shown + (", ..." if len(seen) > count else "") if seen else "nothing"


def _plain(value):
    """A numpy scalar as the Python value it holds (quoted as 5, not np.int64(5))."""
    return value.item() if hasattr(value, "item") else value


def proba_column(label) -> str:
    """The sink column of a class's probability, as the runner names it."""
    return runner.sink_column(f"proba_{label}")


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


def _columns(names: Iterable[str], wanted: list[str]) -> dict[str, str]:
    """wanted name -> the result's column (case-insensitive: PostgreSQL folds
    unquoted names to lower case)."""
    by_lower = {name.lower(): name for name in names}
    return {w: by_lower[w.lower()] for w in wanted if w.lower() in by_lower}


class _Actuals:
    """The actuals query's key and label columns, read once per compute."""

    def __init__(self, monitoring: ModelMonitoring, frame: pd.DataFrame) -> None:
        self.monitoring = monitoring
        self.frame = frame
        self._by_keys: dict[tuple[str, ...], pd.DataFrame] = {}
        # (keys, sink key dtypes) -> (actuals keyed to match them, their form)
        self.joinable: dict[tuple, tuple[pd.DataFrame, tuple[str, ...]]] = {}

    @classmethod
    def read(cls, monitoring: ModelMonitoring, keys: set[str]) -> _Actuals:
        name, label = monitoring.actuals_datasource, monitoring.actuals_label_column
        if name not in odbc.datasource_names():
            raise _Bad(f"the actuals datasource {name} is not configured")
        if not label:
            raise _Bad("no actuals label column is set")
        try:
            odbc.check_read_only(name, monitoring.actuals_query)
        except odbc.ReadOnlyError as exc:
            raise _Bad(f"the actuals query may not run on a read path: {exc}") from None
        wanted = [*sorted(keys), label]
        tables, found = [], None
        try:
            for batch in odbc.read_batches(
                name,
                monitoring.actuals_query,
                BATCH_ROWS,
                max_text_size=MAX_TEXT_BYTES,
                streaming=True,
            ):
                if found is None:
                    found = _columns(batch.schema.names, wanted)
                    missing = [w for w in wanted if w not in found]
                    if missing:
                        raise _Bad(_missing_message(missing, label, batch.schema))
                tables.append(
                    pa.Table.from_batches([batch]).select(list(found.values()))
                )
        except odbc.OdbcError as exc:
            raise _Bad(f"the actuals query failed: {exc}") from None
        if not tables:
            return cls(monitoring, pd.DataFrame(columns=wanted))
        frame = pa.concat_tables(tables).to_pandas()
        return cls(monitoring, frame.rename(columns={v: k for k, v in found.items()}))

    def for_keys(self, keys: tuple[str, ...]) -> pd.DataFrame:
        """The actuals with a label, keyed by `keys`; _Bad if a key repeats."""
        if keys in self._by_keys:
            return self._by_keys[keys]
        label = self.monitoring.actuals_label_column
        frame = self.frame[[*keys, label]].rename(columns={label: _ACTUAL})
        frame = frame.dropna()  # no label yet, or no key: nothing to join
        repeated = frame[frame.duplicated(list(keys), keep=False)]
        if len(repeated):
            example = repeated.iloc[0]
            where = ", ".join(f"{k}={_plain(example[k])!r}" for k in keys)
            raise _Bad(
                f"the actuals query returns {len(repeated)} rows with a repeated "
                f"key (e.g. {where}); each key may have one actual label"
            )
        self._by_keys[keys] = frame
        return frame


def _missing_message(missing: list[str], label: str, schema: pa.Schema) -> str:
    what = [
        f"{m} (the label column)" if m == label else f"{m} (a key column)"
        for m in missing
    ]
    return (
        f"the actuals query returns no column {', '.join(what)}; it returns "
        f"{', '.join(schema.names) or 'no columns'}"
    )


def _keys_of(run, monitoring: ModelMonitoring) -> tuple[str, ...]:
    keys = tuple(monitoring.actuals_key_columns or run.dispatch.key_columns or ())
    if not keys:
        raise _Bad(
            f"dispatch {run.dispatch.name} writes no key columns, so its rows "
            "cannot be joined to the actuals: set its key columns"
        )
    for key in keys:
        if not isinstance(key, str):
            raise _Bad(f"the actuals key column {key!r} is not a name")
    return keys


@dataclass
class _RunRows:
    predicted: int
    matched: pd.DataFrame  # _ACTUAL, PREDICTION, proba columns, _DAY
    day: dt.date


def _read_run(run, keys: tuple[str, ...], actuals: _Actuals) -> _RunRows:
    """The rows the run wrote, read back read-only from its sink batch by
    batch, each joined to the actuals at once."""
    dispatch = run.dispatch
    sink, table = dispatch.sink_datasource, dispatch.sink_table
    where = f"{sink}.{table}"
    try:
        query = (
            f"SELECT * FROM {odbc.quote(sink, table)} "  # noqa: S608 - quoted names
            f"WHERE {odbc.quote(sink, RUN_ID)} = {int(run.pk)}"
        )
        for key in keys:
            odbc.quote(sink, key)
    except ValueError as exc:
        raise _Bad(f"the sink of dispatch {dispatch.name}: {exc}") from None
    except odbc.OdbcError as exc:
        raise _Bad(f"the sink of dispatch {dispatch.name}: {exc}") from None
    if not odbc.table_exists(sink, table):
        raise _Bad(f"the sink table {where} does not exist (any more)")
    version = run.model_version
    probas = [proba_column(c) for c in version.classes] if version.classes else []
    wanted = [*keys, PREDICTION, SCORED_AT, *probas]
    predicted, parts, day = 0, [], None
    try:
        for batch in odbc.read_batches(
            sink, query, BATCH_ROWS, max_text_size=MAX_TEXT_BYTES, streaming=True
        ):
            found = _columns(batch.schema.names, wanted)
            missing = [k for k in (*keys, PREDICTION) if k not in found]
            if missing:
                raise _Bad(
                    f"the sink table {where} has no column {', '.join(missing)}"
                    + (" (a key column)" if PREDICTION not in missing else "")
                )
            frame = (
                pa.Table.from_batches([batch])
                .select(list(found.values()))
                .to_pandas()
                .rename(columns={v: k for k, v in found.items()})
            )
            predicted += len(frame)
            if day is None and SCORED_AT in frame and len(frame):
                day = pd.Timestamp(frame[SCORED_AT].iloc[0]).date()
            parts.append(_join(frame, actuals, keys, probas))
    except odbc.OdbcError as exc:
        raise _Bad(f"reading the predictions back from {where} failed: {exc}") from None
    if day is None:
        day = (run.started or run.created).astimezone(dt.UTC).date()
    if not predicted:
        raise _Bad(
            f"no row of this run is in {where} (replaced or deleted since)",
            RealisedState.NO_ROWS,
        )
    matched = pd.concat(parts, ignore_index=True)
    matched[_DAY] = day
    return _RunRows(predicted, matched, day)


def _join(frame, actuals: _Actuals, keys, probas) -> pd.DataFrame:
    """One batch of sink rows joined to the actuals. The actuals' keys are
    made to match once per kind of sink keys, not once per batch."""
    left = frame.dropna(subset=list(keys)).copy()
    signature = (keys, tuple(str(normal_key(left[k]).dtype) for k in keys))
    cached = actuals.joinable.get(signature)
    if cached is None:
        right = actuals.for_keys(keys).copy()
        for key in keys:
            left[key], right[key] = match_keys(left[key], right[key])
        forms = tuple(str(left[k].dtype) for k in keys)
        actuals.joinable[signature] = (right, forms)
    else:
        right, forms = cached
        for key, form in zip(keys, forms, strict=True):
            left[key] = _to_form(left[key], form)
    try:
        joined = left.merge(right, on=list(keys), how="inner", validate="many_to_one")
    except pd.errors.MergeError:
        raise _Bad(
            "the actuals repeat a key once keys are compared as the sink holds "
            f"them (trimmed text, numbers as numbers): {', '.join(keys)}"
        ) from None
    kept = [_ACTUAL, PREDICTION, *[p for p in probas if p in joined]]
    return joined[kept]


def _to_form(values: pd.Series, form: str) -> pd.Series:
    """A sink key column in the form match_keys gave the first batch's."""
    values = normal_key(values)
    if str(values.dtype) == form:
        return values
    if form == "string":
        return _as_text(values)
    if _kind(values) == "text":  # text keys met numeric actuals as numbers
        values = normal_key(pd.to_numeric(values, errors="coerce"))
    return values.astype(form)


# --------------------------------------------------------------------------
# Computing and storing
# --------------------------------------------------------------------------


def configured() -> list[ModelMonitoring]:
    """The monitoring settings that have an actuals query."""
    return list(
        ModelMonitoring.objects.exclude(actuals_datasource="")
        .exclude(actuals_query="")
        .select_related("model")
    )


def compute_all(*, days: int | None = None) -> list[Computation]:
    return [compute(m.model, days=days) for m in configured()]


# The monitor's cron round scores each model again after this long: actuals
# arrive over days, and reading a day of sinks is not free.
RESCORE_AFTER = dt.timedelta(hours=1)


def compute_due(now=None) -> list[Computation]:
    """What the monitor's cron round calls: the models not scored in the last
    RESCORE_AFTER; one that fails is logged and the others go on."""
    now = now or timezone.now()
    done = []
    for monitoring in configured():
        checked = monitoring.realised_checked
        if checked is not None and now - checked < RESCORE_AFTER:
            continue
        try:
            done.append(compute(monitoring.model, now=now))
        except Exception:
            logger.exception("realised scores of %s failed", monitoring.model)
    return done


def compute(model, *, days: int | None = None, now=None) -> Computation:
    """Score the model's successful runs of the last `days` days (default its
    actuals_days) against its actuals and store the scores, all at once."""
    monitoring = ModelMonitoring.objects.filter(model=model).first()
    if monitoring is None or not (
        monitoring.actuals_datasource and monitoring.actuals_query.strip()
    ):
        message = (
            f"model {model.name} has no actuals query: set its actuals "
            "datasource and query in its monitoring settings"
        )
        _shadows_unscored(model, message)
        raise RealisedError(message)
    now = now or timezone.now()
    since = now - dt.timedelta(days=days or monitoring.actuals_days)
    runs = list(
        DispatchRun.objects.filter(
            dispatch__model=model,
            status=RunStatus.SUCCEEDED,
            model_version__isnull=False,
            started__gte=since,
        )
        .select_related("dispatch", "model_version")
        .order_by("started", "pk")
    )
    error = ""
    run_scores: list[Score] = []
    day_scores: list[Score] = []
    try:
        keys = {k for run in runs for k in _keys_or_none(run, monitoring)}
        actuals = _Actuals.read(monitoring, keys) if runs else None
    except _Bad as exc:
        error = str(exc)
        run_scores = [_failed(run, error) for run in runs]
    else:
        run_scores, day_scores = _score_runs(runs, actuals, monitoring)
    _store(monitoring, run_scores, day_scores, error, now)
    _score_shadows(model, runs, actuals if not error else None, monitoring, error, now)
    return Computation(model.name, run_scores, day_scores, error)


def _keys_or_none(run, monitoring) -> tuple[str, ...]:
    try:
        return _keys_of(run, monitoring)
    except _Bad:
        return ()  # the run's own score says why


def _failed(run, reason: str, state: str = RealisedState.FAILED) -> Score:
    return Score(
        MetricScope.RUN,
        run.model_version_id,
        state,
        run_id=run.pk,
        reason=reason[:500],
        rows_predicted=run.rows_written,
    )


@dataclass
class _Day:
    version: object
    parts: list[pd.DataFrame] = field(default_factory=list)
    predicted: int = 0
    failures: list[str] = field(default_factory=list)


def _score_runs(runs, actuals: _Actuals, monitoring) -> tuple[list, list]:
    run_scores, day_scores = [], []
    pending: dict[tuple[int, dt.date], _Day] = {}
    for run in runs:
        # Runs come in start order and write their start time as scored_at,
        # so a day before this run's start gets no more rows: score it now
        # and keep only one day's matched rows in memory.
        started = (run.started or run.created).astimezone(dt.UTC).date()
        for key in [k for k in pending if k[1] < started]:
            day_scores.append(_score_day(key[1], pending.pop(key)))
        version = run.model_version
        try:
            keys = _keys_of(run, monitoring)
            actuals.for_keys(keys)  # a repeated key fails before any read
            rows = _read_run(run, keys, actuals)
            labelled = _labelled(version, rows.matched, monitoring)
        except _Bad as exc:
            run_scores.append(_failed(run, str(exc), exc.state))
            day = pending.setdefault((version.pk, started), _Day(version))
            day.failures.append(f"run {run.pk}: {exc}")
            continue
        except Exception as exc:  # a bug must not stop the other runs
            logger.exception("realised score of run %s failed", run.pk)
            run_scores.append(_failed(run, f"unexpected error: {exc}"))
            continue
        day = pending.setdefault((version.pk, rows.day), _Day(version))
        day.parts.append(labelled)
        day.predicted += rows.predicted
        run_scores.append(
            _scored(MetricScope.RUN, version, labelled, rows.predicted, run_id=run.pk)
        )
    for key, day in pending.items():
        day_scores.append(_score_day(key[1], day))
    return run_scores, day_scores


def _labelled(version, matched: pd.DataFrame, monitoring) -> pd.DataFrame:
    """The matched rows with the labels and predictions in one form."""
    if matched.empty:
        return matched
    matched = matched.copy()
    matched[_ACTUAL] = _labels(
        version, matched[_ACTUAL], monitoring.actuals_label_column
    )
    matched[PREDICTION] = _predictions(version, matched[PREDICTION])
    return matched


def _scored(scope, version, matched, predicted, *, run_id=None, day=None) -> Score:
    if matched.empty:
        return Score(
            scope,
            version.pk,
            RealisedState.NO_MATCH,
            run_id=run_id,
            day=day,
            reason="no prediction has its actual label yet (no key matched)",
            rows_predicted=predicted,
        )
    probas = [proba_column(c) for c in version.classes]
    proba = matched[probas] if all(p in matched for p in probas) and probas else None
    metrics, absent = score(version, matched[_ACTUAL], matched[PREDICTION], proba)
    return Score(
        scope,
        version.pk,
        RealisedState.SCORED,
        run_id=run_id,
        day=day,
        rows_predicted=predicted,
        rows_matched=len(matched),
        metrics=metrics,
        absent=absent,
    )


# --------------------------------------------------------------------------
# Shadow scoring: a challenger's predictions in its champion's runs
# --------------------------------------------------------------------------


def _shadows_unscored(model, reason: str) -> None:
    try:
        shadow.mark_unscored(model, reason)
    except Exception:  # never the champion's computation's failure
        logger.exception("shadows of %s", model)


def _score_shadows(model, runs, actuals, monitoring, error: str, now) -> None:
    """Each shadow in these runs: the challenger's and the champion's stored
    predictions joined to the same actuals with the run's key rules, scored
    on the same matched rows. Then the files of decided challenges go."""
    by_run = {run.pk: run for run in runs}
    try:
        items = shadow.to_score(model, list(by_run))
    except Exception:
        logger.exception("shadows of %s", model)
        return
    for item in items:
        try:
            if error:
                raise _Bad(error)
            result = _score_shadow(item, by_run[item.dispatch_run_id], actuals)
        except _Bad as exc:
            result = _shadow_failed(str(exc), exc.state)
        except Exception as exc:  # a bug must not stop the other shadows
            logger.exception("realised score of shadow %s failed", item.pk)
            result = _shadow_failed(f"unexpected error: {exc}")
        if result is None:
            continue
        try:
            shadow.store_realised(item, result, now)
        except Exception:
            logger.exception("storing the realised score of shadow %s", item.pk)
    try:
        shadow.remove_decided(model)
    except Exception:
        logger.exception("removing the decided shadows of %s", model)


def _shadow_failed(reason: str, state: str = RealisedState.FAILED):
    known = {RealisedState.NO_MATCH: ShadowRun.Realised.NO_MATCH}
    return shadow.RealisedShadow(
        state=known.get(state, ShadowRun.Realised.FAILED), reason=reason
    )


def _score_shadow(item: ShadowRun, run, actuals: _Actuals):
    if item.error:
        raise _Bad(f"the challenger failed in this run: {item.error}")
    path = shadow.predictions_path(item)
    if path is None:
        if item.realised_state == ShadowRun.Realised.FAILED and item.realised_reason:
            return None  # why none were kept, said when the run was recorded
        raise _Bad("no predictions of the shadow were kept for this run")
    monitoring = actuals.monitoring
    keys = _keys_of(run, monitoring)
    actuals.for_keys(keys)  # a repeated key fails before any read
    if not path.exists():
        raise _Bad(f"the shadow's predictions file {path} is missing")
    champion, challenger = run.model_version, item.challenge.challenger
    sides = {shadow.CHAMPION: (champion, []), shadow.CHALLENGER: (challenger, [])}
    try:
        stored = pq.ParquetFile(path)
        names = stored.schema_arrow.names
        missing = [k for k in keys if k not in names]
        if missing:
            raise _Bad(
                f"the shadow's predictions hold no key column {', '.join(missing)} "
                f"(they hold {', '.join(n for n in names if not n.startswith('__'))})"
            )
        for batch in stored.iter_batches(BATCH_ROWS):
            frame = batch.to_pandas()
            for side, (version, parts) in sides.items():
                parts.append(_join_side(frame, side, version, keys, actuals))
    except (OSError, pa.ArrowException) as exc:
        raise _Bad(
            f"the shadow's predictions file {path} cannot be read: {exc}"
        ) from None
    scored = {}
    for side, (version, parts) in sides.items():
        matched = _labelled(version, pd.concat(parts, ignore_index=True), monitoring)
        scored[side] = _scored(MetricScope.RUN, version, matched, item.rows)
    one, other = scored[shadow.CHAMPION], scored[shadow.CHALLENGER]
    if one.state != RealisedState.SCORED:
        raise _Bad(one.reason, one.state)
    absent = {f"champion {k}": v for k, v in one.absent.items()}
    absent.update({f"challenger {k}": v for k, v in other.absent.items()})
    return shadow.RealisedShadow(
        state=ShadowRun.Realised.SCORED,
        rows=one.rows_matched,
        champion=one.metrics,
        challenger=other.metrics,
        absent=absent,
    )


def _join_side(frame, side: str, version, keys, actuals) -> pd.DataFrame:
    """One side's stored predictions, named as a sink's, joined to the actuals."""
    names = {k: k for k in keys}
    names[side + PREDICTION] = PREDICTION
    probas = []
    for label in version.classes or []:
        stored = f"{side}proba_{label}"
        if stored in frame:
            names[stored] = proba_column(label)
            probas.append(proba_column(label))
    part = frame[list(names)].rename(columns=names)
    return _join(part, actuals, tuple(keys), probas)


def _score_day(day: dt.date, collected: _Day) -> Score:
    version = collected.version
    if not collected.parts:
        return Score(
            MetricScope.DAY,
            version.pk,
            RealisedState.FAILED,
            day=day,
            reason="; ".join(collected.failures)[:500],
        )
    matched = pd.concat(collected.parts, ignore_index=True)
    result = _scored(MetricScope.DAY, version, matched, collected.predicted, day=day)
    if collected.failures:
        note = f"{len(collected.failures)} run(s) left out: " + "; ".join(
            collected.failures
        )
        result = dataclasses.replace(result, reason=note[:500])
    return result


def _store(monitoring, run_scores, day_scores, error: str, now) -> None:
    """Every score of one computation, or none."""
    with transaction.atomic():
        for item in [*run_scores, *day_scores]:
            lookup = {"version_id": item.version_id, "scope": item.scope}
            if item.scope == MetricScope.RUN:
                lookup["run_id"] = item.run_id
            else:
                lookup["day"] = item.day
            RealisedScore.objects.update_or_create(
                **lookup,
                defaults={
                    "state": item.state,
                    "reason": item.reason[:500],
                    "rows_predicted": item.rows_predicted,
                    "rows_matched": item.rows_matched,
                    "metrics": item.metrics,
                    "absent": item.absent,
                    "computed": now,
                },
            )
        ModelMonitoring.objects.filter(pk=monitoring.pk).update(
            realised_checked=now, realised_error=error[:2000]
        )


# --------------------------------------------------------------------------
# The metric-decline alert
# --------------------------------------------------------------------------


def findings() -> list[Finding]:
    """Per model with an actuals query: is the latest day's realised primary
    metric worse than its version's held-out score by more than the
    tolerance? Reads stored scores only; never raises."""
    result = []
    for monitoring in configured():
        try:
            result.append(_finding(monitoring))
        except Exception:  # one model's bad row must not stop the monitor
            logger.exception("metric decline of %s not evaluated", monitoring.model)
    return result


def _finding(monitoring: ModelMonitoring) -> Finding:
    model = monitoring.model
    latest = (
        RealisedScore.objects.filter(
            version__model=model, scope=MetricScope.DAY, state=RealisedState.SCORED
        )
        .select_related("version")
        .order_by("-day", "-rows_matched", "-pk")
        .first()
    )
    failing, detail = False, "no realised score yet"
    if latest is not None:
        failing, detail = _compare(latest, monitoring.metric_tolerance)
    return Finding(
        key=f"model:{model.pk}:metric_decline",
        rule=Rule.METRIC_DECLINE,
        subject=f"model {model.name} (#{model.pk})",
        failing=failing,
        detail=detail,
        data={"version": latest.version_id if latest else None},
    )


def _compare(latest: RealisedScore, tolerance: float) -> tuple[bool, str]:
    version = latest.version
    metric = primary_metric(version)
    realised = latest.metrics.get(metric)
    held = held_out(version).get(metric)
    if realised is None:
        return False, f"{latest.day}: no realised {metric} ({version})"
    if held is None:
        return False, (
            f"{latest.day}: realised {metric} {realised:.4g}; {version} has no "
            f"held-out {metric} to compare with"
        )
    worse = is_worse(metric, realised, held, tolerance)
    relative = metric in ("rmse", "mae")
    allowed = f"{tolerance:g}" + (" relative" if relative else "")
    verdict = "worse than" if worse else "within tolerance of"
    return worse, (
        f"{latest.day}: realised {metric} {realised:.4g} on {latest.rows_matched} "
        f"rows is {verdict} the held-out {held:.4g} of {version} "
        f"(tolerance {allowed})"
    )


# --------------------------------------------------------------------------
# What the Performance page and its API show
# --------------------------------------------------------------------------

RUNS_SHOWN = 100
DAYS_SHOWN = 366


@dataclass(frozen=True)
class Performance:
    version: object
    monitoring: ModelMonitoring
    configured: bool
    primary: str
    metrics: list[str]
    held_out: dict[str, float]
    days: list[RealisedScore]  # oldest first
    runs: list[RealisedScore]  # newest first

    def rows(self, items: list[RealisedScore]) -> list[tuple[RealisedScore, list]]:
        """Each score with its metrics in the order of `metrics` (None: absent)."""
        return [(item, [item.metrics.get(m) for m in self.metrics]) for item in items]

    @property
    def day_rows(self) -> list[tuple[RealisedScore, list]]:
        return self.rows(self.days)

    @property
    def run_rows(self) -> list[tuple[RealisedScore, list]]:
        return self.rows(self.runs)

    def chart(self) -> dict:
        return {
            "labels": [str(d.day) for d in self.days],
            "metrics": self.metrics,
            "realised": {
                m: [d.metrics.get(m) for d in self.days] for m in self.metrics
            },
            "held_out": self.held_out,
        }

    def to_json(self) -> dict:
        def row(item: RealisedScore) -> dict:
            return {
                "run": item.run_id,
                "day": str(item.day) if item.day else None,
                "state": item.state,
                "reason": item.reason,
                "rows_predicted": item.rows_predicted,
                "rows_matched": item.rows_matched,
                "metrics": item.metrics,
                "absent": item.absent,
                "computed": item.computed.isoformat(),
            }

        monitoring = self.monitoring
        checked = monitoring.realised_checked
        return {
            "version": self.version.pk,
            "model": self.version.model.name,
            "number": self.version.number,
            "configured": self.configured,
            "primary_metric": self.primary,
            "metrics": self.metrics,
            "held_out": self.held_out,
            "tolerance": monitoring.metric_tolerance,
            "checked": checked.isoformat() if checked else None,
            "error": monitoring.realised_error,
            "days": [row(d) for d in self.days],
            "runs": [row(r) for r in self.runs],
        }


def performance(version) -> Performance:
    monitoring = ModelMonitoring.of(version.model)
    scores = RealisedScore.objects.filter(version=version)
    days = scores.filter(scope=MetricScope.DAY).order_by("-day")[:DAYS_SHOWN]
    return Performance(
        version=version,
        monitoring=monitoring,
        configured=bool(
            monitoring.actuals_datasource and monitoring.actuals_query.strip()
        ),
        primary=primary_metric(version),
        metrics=metric_names(version),
        held_out=held_out(version),
        days=list(days)[::-1],
        runs=list(
            scores.filter(scope=MetricScope.RUN).order_by("-run_id")[:RUNS_SHOWN]
        ),
    )
