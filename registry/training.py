"""Training, synchronously: validate, split, fit, score, measure, register.

The background job (registry/jobs.py) and the tests call ``train_version``.
Nothing is registered unless every step succeeded: the fit happens in a
staging folder that becomes the version folder in the same transaction that
creates the ModelVersion row.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split

from mlframework.core import executors
from mlframework.events.log import log_event
from registry import (
    acceleration,
    autogluon,
    datasets,
    drift_reference,
    fairness,
    profiling,
    services,
    store,
)
from registry.contracts import FeatureSchema
from registry.errors import RegistryError, TrainingCancelled, TrainingRefused
from registry.models import (
    AliasChange,
    Dataset,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    slug_validator,
)

SOURCE = "registry"
AUTO = "auto"

# (stage, models trained so far) -> True to cancel.
Progress = Callable[[str, int], bool]


@dataclass
class TrainOptions:
    label: str
    problem_type: str = AUTO
    eval_metric: str = ""  # "" = the default for the problem type
    preset: str = ""  # "" = training.default_preset
    time_limit: int = 0  # 0 = training.default_time_limit
    excluded: list[str] = field(default_factory=list)
    seed: int = 0
    alias: str | None = None  # also point this alias at the new version
    # One small LightGBM instead of the preset's models (tests, benchmarks).
    fast: bool = False
    # Columns to measure fairness per group on, on the held-out rows, once
    # trained (registry.fairness); [] = none.
    sensitive: list[str] = field(default_factory=list)
    # Where it trains ("" = executors.default) and, on Slurm, the job's
    # resources beyond executors.slurm (0/"" = the configured value).
    executor: str = ""
    slurm_cpus: int = 0
    slurm_memory: str = ""
    slurm_time_limit: int = 0  # minutes

    @classmethod
    def from_choices(cls, data: dict) -> TrainOptions:
        """From the train form's or the API's validated fields."""
        return cls(
            label=data["label"],
            problem_type=data["problem_type"],
            eval_metric=data["eval_metric"],
            preset=data["preset"],
            time_limit=data["time_limit"],
            excluded=list(data["excluded"]),
            seed=data["seed"],
            alias="production" if data["make_production"] else None,
            sensitive=list(data.get("sensitive") or []),
            executor=data.get("executor") or "",
            slurm_cpus=data.get("slurm_cpus") or 0,
            slurm_memory=data.get("slurm_memory") or "",
            slurm_time_limit=data.get("slurm_time_limit") or 0,
        )

    def resolved(self) -> TrainOptions:
        config = settings.CONFIG.training
        return TrainOptions(
            label=self.label,
            problem_type=self.problem_type or AUTO,
            eval_metric=self.eval_metric,
            preset=self.preset or config.default_preset,
            time_limit=int(self.time_limit or config.default_time_limit),
            excluded=list(self.excluded),
            seed=int(self.seed),
            alias=self.alias or None,
            fast=bool(self.fast),
            sensitive=list(self.sensitive),
            executor=executors.chosen(self.executor),
            slurm_cpus=int(self.slurm_cpus or 0),
            slurm_memory=self.slurm_memory or "",
            slurm_time_limit=int(self.slurm_time_limit or 0),
        )

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Plan:
    """What training will do, shown before queueing."""

    problem_type: str
    inferred_type: str
    reason: str
    eval_metric: str
    rows: int
    features: list[str]
    warnings: list[str]


def plan(
    frame: pd.DataFrame,
    options: TrainOptions,
    *,
    label_stats: profiling.LabelStats | None = None,
) -> Plan:
    """Check data and options; raise TrainingRefused saying why, else the plan.

    `frame` may be the first rows of a large file when `label_stats` sums up
    its whole label column: label checks use all rows, ID warnings and the
    problem-type inference the sample (plus each label value once).
    """
    options = options.resolved()
    config = settings.CONFIG.training
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise TrainingRefused(
            _(
                "The file has duplicate column names: %(names)s. "
                "Rename them so every column has its own name."
            )
            % {"names": ", ".join(duplicated)}
        )
    label = options.label
    if not label or label not in frame.columns:
        raise TrainingRefused(
            _("The label column %(label)r is not in the file.") % {"label": label},
            field="label",
        )
    target = frame[label]
    stats = label_stats if label_stats is not None else profiling.LabelStats.of(target)
    if stats.present == 0:
        raise TrainingRefused(
            _("The label column %(label)r is empty in every row.") % {"label": label},
            field="label",
        )
    if stats.distinct < 2:
        raise TrainingRefused(
            _(
                "The label column %(label)r has only one value (%(value)r); "
                "there is nothing to learn."
            )
            % {"label": label, "value": stats.first},
            field="label",
        )
    if stats.present < config.min_rows:
        raise TrainingRefused(
            _("Only %(present)s rows have a label; at least %(needed)s are needed.")
            % {"present": stats.present, "needed": config.min_rows}
        )
    unknown = [c for c in options.excluded if c not in frame.columns]
    if unknown:
        raise TrainingRefused(
            _("Excluded column(s) not in the file: %(names)s.")
            % {"names": ", ".join(unknown)},
            field="excluded",
        )
    if label in options.excluded:
        raise TrainingRefused(
            _("The label column cannot be excluded."), field="excluded"
        )
    unknown = [c for c in options.sensitive if c not in frame.columns]
    if unknown:
        raise TrainingRefused(
            _("Sensitive column(s) not in the file: %(columns)s.")
            % {"columns": ", ".join(unknown)},
            field="sensitive",
        )
    if label in options.sensitive:
        raise TrainingRefused(
            _("The label column cannot be a sensitive column."), field="sensitive"
        )
    features = [c for c in frame.columns if c != label and c not in options.excluded]
    if not features:
        raise TrainingRefused(
            _("No feature columns are left after the exclusions."), field="excluded"
        )
    if label_stats is not None and stats.values():
        # The sample may miss values the whole column holds: each once more.
        target = pd.concat([target, pd.Series(stats.values(), name=label)])
    inferred, reason = autogluon.infer_problem_type(target)
    problem_type = inferred if options.problem_type == AUTO else options.problem_type
    if problem_type not in autogluon.PROBLEM_TYPES:
        raise TrainingRefused(
            _("Unknown problem type %(type)r.") % {"type": problem_type},
            field="problem_type",
        )
    if problem_type == "regression" and not stats.numeric:
        raise TrainingRefused(
            _(
                "Regression needs a numeric label; "
                "%(label)r holds text such as %(value)r."
            )
            % {"label": label, "value": stats.first},
            field="problem_type",
        )
    if problem_type == "binary" and stats.distinct != 2:
        raise TrainingRefused(
            _(
                "Binary classification needs exactly two label values; "
                "%(label)r has %(count)s."
            )
            % {"label": label, "count": _count(stats)},
            field="problem_type",
        )
    metric = options.eval_metric or autogluon.DEFAULT_METRIC[problem_type]
    metric = autogluon.METRIC_ALIASES.get(metric, metric)
    if metric not in autogluon.METRICS[problem_type]:
        raise TrainingRefused(
            _("%(metric)s does not fit a %(type)s problem; choose one of %(metrics)s.")
            % {
                "metric": metric,
                "type": problem_type,
                "metrics": ", ".join(autogluon.METRICS[problem_type]),
            },
            field="eval_metric",
        )
    if options.preset not in config.presets:
        raise TrainingRefused(
            _("Unknown preset %(preset)r; choose one of %(presets)s.")
            % {"preset": options.preset, "presets": ", ".join(config.presets)},
            field="preset",
        )
    if not 1 <= options.time_limit <= config.max_time_limit:
        raise TrainingRefused(
            _("The time limit must be between 1 and %(limit)s seconds.")
            % {"limit": config.max_time_limit},
            field="time_limit",
        )
    warnings = [
        _(
            "%(name)r looks like an identifier (every value distinct); "
            "consider excluding it: a model cannot learn from IDs."
        )
        % {"name": name}
        for name in profiling.id_like_columns(frame[features])
    ]
    if problem_type != "regression":
        rare = stats.rare()
        if rare:
            warnings.append(
                _("Class(es) with a single row cannot be held out: %(classes)s.")
                % {"classes": ", ".join(map(str, rare[:5]))}
            )
    if stats.missing:
        warnings.append(
            _("%(rows)s rows without a label are left out.") % {"rows": stats.missing}
        )
    return Plan(
        problem_type=problem_type,
        inferred_type=inferred,
        reason=reason,
        eval_metric=metric,
        rows=stats.present,
        features=[str(f) for f in features],
        warnings=warnings,
    )


def _count(stats: profiling.LabelStats) -> str:
    if stats.many:
        return _("more than %(count)s") % {"count": profiling.MAX_LABEL_VALUES}
    return str(stats.distinct)


def split(
    frame: pd.DataFrame, label: str, problem_type: str, *, seed: int, holdout: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified split: by class, or by label quantile for regression."""
    target = frame[label]
    if problem_type == "regression":
        bins = max(2, min(10, len(frame) // 10))
        strata = pd.qcut(target.rank(method="first"), q=bins, labels=False)
    else:
        counts = target.value_counts()
        strata = target if counts.min() >= 2 else None
    try:
        train, test = train_test_split(
            frame, test_size=holdout, random_state=seed, stratify=strata
        )
    except ValueError:
        # A class too small for the requested held-out share: plain random.
        train, test = train_test_split(frame, test_size=holdout, random_state=seed)
    return train, test


def _scores(
    predictor: autogluon.Predictor, test: pd.DataFrame, label: str
) -> tuple[dict, dict, pd.Series]:
    """The best model's held-out scores, the data behind the evaluation chart,
    and the predictions (for the drift reference)."""
    truth = test[label]
    features = test.drop(columns=[label])
    predicted, proba = predictor.predict_both(features)
    scores: dict[str, float | None] = {}
    evaluation: dict = {}
    if predictor.problem_type == "regression":
        y_true = truth.astype("float64").to_numpy()
        y_pred = predicted.astype("float64").to_numpy()
        scores["rmse"] = float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
        scores["mae"] = float(skm.mean_absolute_error(y_true, y_pred))
        scores["r2"] = float(skm.r2_score(y_true, y_pred))
        keep = np.random.default_rng(0).permutation(len(y_true))[:500]
        evaluation = {
            "type": "predicted_vs_actual",
            "actual": [float(v) for v in y_true[keep]],
            "predicted": [float(v) for v in y_pred[keep]],
        }
    else:
        classes = predictor.classes
        scores["accuracy"] = float(skm.accuracy_score(truth, predicted))
        scores["balanced_accuracy"] = float(
            skm.balanced_accuracy_score(truth, predicted)
        )
        average = "binary" if predictor.problem_type == "binary" else "macro"
        f1_key = "f1" if average == "binary" else "f1_macro"
        pos = classes[-1] if average == "binary" else 1
        scores[f1_key] = float(
            skm.f1_score(truth, predicted, average=average, pos_label=pos)
        )
        with contextlib.suppress(ValueError):
            if average == "binary":
                scores["roc_auc"] = float(
                    skm.roc_auc_score(truth == classes[-1], proba[classes[-1]])
                )
            else:
                scores["roc_auc"] = float(
                    skm.roc_auc_score(
                        truth,
                        proba[classes].to_numpy(),
                        multi_class="ovr",
                        average="macro",
                        labels=classes,
                    )
                )
        matrix = skm.confusion_matrix(truth, predicted, labels=classes)
        evaluation = {
            "type": "confusion_matrix",
            "labels": [str(c) for c in classes],
            "matrix": matrix.tolist(),
        }
    scores[predictor.eval_metric] = predictor.eval_score(truth, predicted, proba)
    return scores, evaluation, predicted


def _latency(predictor: autogluon.Predictor, features: pd.DataFrame) -> dict:
    """Single-row latency (median) and batch rows/s on a persisted predictor."""
    row = features.head(1)
    predictor.predict(row)  # warm-up
    timings = []
    for _attempt in range(7):
        started = time.perf_counter()
        predictor.predict(row)
        timings.append(time.perf_counter() - started)
    batch = features
    while len(batch) < 1000:
        batch = pd.concat([batch, features])
    rows = 0
    started = time.perf_counter()
    while True:
        predictor.predict(batch)
        rows += len(batch)
        elapsed = time.perf_counter() - started
        if elapsed > 0.1:
            break
    return {
        "latency_ms": round(statistics.median(timings) * 1000, 3),
        "rows_per_second": round(rows / elapsed, 1),
    }


def _next_number(model: RegisteredModel) -> int:
    return (model.versions.aggregate(top=Max("number"))["top"] or 0) + 1


def train_version(
    frame: pd.DataFrame,
    *,
    name: str,
    options: TrainOptions,
    user=None,
    dataset=None,
    dataset_info: dict | None = None,
    progress: Progress | None = None,
    log_file: Path | None = None,
    hyperparameters: dict | None = None,
    num_cpus: int | str = "auto",
    description: str = "",
    on_ready: Callable[[ModelVersion], None] | None = None,
    staging_owner: str = "",
) -> ModelVersion:
    """Train and register a new version of model `name`; return it.

    The version is registered (ready to predict, with its held-out scores and
    lineage) as soon as the fit is scored; `on_ready` is called then. The
    analysis that only informs (every model's held-out score, permutation
    importance, latency) follows, on the version's published files.
    """
    slug_validator(name)
    options = options.resolved()
    if options.fast and hyperparameters is None:
        hyperparameters = autogluon.FAST_HYPERPARAMETERS

    timings: dict[str, float] = {}
    clock = {"stage": "", "at": time.monotonic()}

    def stage(text: str, models: int = 0) -> None:
        now = time.monotonic()
        if clock["stage"]:
            timings[clock["stage"]] = round(now - clock["at"], 3)
        clock.update(stage=text, at=now)
        if progress is not None and progress(text, models):
            raise TrainingCancelled("Training was cancelled.")

    stage("checking the data")
    the_plan = plan(frame, options)
    label = options.label
    train, test = split(
        _model_rows(frame, the_plan.features, label),
        label,
        the_plan.problem_type,
        seed=options.seed,
        holdout=settings.CONFIG.training.holdout_fraction,
    )
    staging = store.staging_dir(staging_owner)
    predictor_dir = staging / store.PREDICTOR
    try:
        stage("fitting")
        started = time.monotonic()
        predictor = autogluon.fit(
            train,
            label=label,
            path=predictor_dir,
            problem_type=the_plan.problem_type,
            eval_metric=the_plan.eval_metric,
            preset=options.preset,
            time_limit=options.time_limit,
            seed=options.seed,
            hyperparameters=hyperparameters,
            num_cpus=num_cpus,
            progress=progress,
            log_file=log_file,
        )
        fit_seconds = time.monotonic() - started
        models = len(predictor.model_names())
        # Not persisted: one scoring pass loads only the best model's own
        # models, where persist() also sizes every model (~0.5 s on 20k rows).
        stage("scoring on the held-out rows", models)
        scores, evaluation, predicted = _scores(predictor, test, label)
        leaderboard = predictor.leaderboard()  # validation scores for now
        features = profiling.feature_schema(train.drop(columns=[label]))
        size = store.size_bytes(predictor_dir)
        reference = drift_reference.build(
            train,
            predicted,
            schema=FeatureSchema.from_json(features),
            problem_type=the_plan.problem_type,
            seed=options.seed,
        )
        lineage = {
            "dataset": {
                "sha256": getattr(dataset, "sha256", None),
                "name": getattr(dataset, "name", None),
                "rows": len(frame),
                "columns": [str(c) for c in frame.columns],
                **(dataset.source_info() if isinstance(dataset, Dataset) else {}),
                **(dataset_info or {}),
            },
            "label": label,
            "problem_type": the_plan.problem_type,
            "inferred_problem_type": the_plan.inferred_type,
            "inference_reason": the_plan.reason,
            "eval_metric": the_plan.eval_metric,
            "greater_is_better": predictor.greater_is_better(),
            "preset": options.preset,
            "time_limit": options.time_limit,
            "seed": options.seed,
            "excluded": options.excluded,
            "holdout_fraction": settings.CONFIG.training.holdout_fraction,
            "train_rows": len(train),
            "test_rows": len(test),
            "libraries": autogluon.library_versions(),
            "fit_seconds": round(fit_seconds, 3),
            "best_model": predictor.best_model,
            "models_trained": models,
            "size_bytes": size,
            "warnings": the_plan.warnings,
            "reference": profiling.reference_statistics(train),
            "trained_by": getattr(user, "username", None),
            "trained_at": timezone.now().isoformat(),
            "custom_hyperparameters": hyperparameters is not None,
            "stage_seconds": timings,
        }
        stage("saving the version", models)
        version = _register(
            name,
            staging,
            user=user,
            dataset=dataset,
            description=description,
            alias=options.alias,
            fields={
                "label": label,
                "problem_type": the_plan.problem_type,
                "eval_metric": the_plan.eval_metric,
                "features": features,
                "classes": predictor.classes,
                "scores": scores,
                "lineage": lineage,
                "leaderboard": leaderboard,
                "evaluation": evaluation,
                "size_bytes": size,
                "analysis": ModelVersion.Analysis.RUNNING,
            },
        )
    finally:
        store.discard(staging)  # gone already when published
    timings["saving the version"] = round(time.monotonic() - clock["at"], 3)
    ModelVersion.objects.filter(pk=version.pk).update(lineage=lineage)
    version.lineage = lineage
    drift_reference.save(version, reference)
    log_event(
        SOURCE,
        "version.created",
        f"{version} trained: {the_plan.eval_metric} "
        f"{scores.get(the_plan.eval_metric, float('nan')):.4g} on "
        f"{len(test)} held-out rows",
        user=user,
        model_version=version,
        data={"scores": scores, "dataset": lineage["dataset"]["sha256"]},
    )
    if on_ready is not None:
        on_ready(version)
    version = analyse(version, test=test)
    acceleration.compile_version(version, test.drop(columns=[label]))
    if options.sensitive:
        _measure_fairness(version, frame, test, options.sensitive, user=user)
    return version


def _measure_fairness(version, frame, test, sensitive: list[str], *, user) -> None:
    """The fairness report chosen at training, on the held-out rows (the
    sensitive columns joined back: the model may not use them). Like the
    analysis it only informs: a failure is stored, the version stands."""
    extra = [name for name in sensitive if name not in test.columns]
    rows = test.join(frame.loc[test.index, extra]) if extra else test
    try:
        report = fairness.evaluate(
            version, rows, sensitive, seed=int(version.lineage.seed or 0)
        )
    except RegistryError as exc:
        fairness.save_failure(version, sensitive, str(exc), user=user)
        return
    fairness.save(version, report, user=user)


def _model_rows(frame: pd.DataFrame, features: list[str], label: str) -> pd.DataFrame:
    """The labelled rows, model columns only, in the types AutoGluon gets."""
    data = frame.loc[frame[label].notna(), [*features, label]]
    return autogluon.numpy_frame(data)


def holdout_rows(version: ModelVersion) -> pd.DataFrame:
    """Rebuild a version's held-out rows from its stored dataset (same split)."""
    return stored_split(version)[1]


def stored_split(
    version: ModelVersion, *, frame: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild a version's training and held-out rows from its stored dataset
    (`frame`: the dataset already read). Row labels are the dataset's."""
    if version.dataset is None:
        raise TrainingRefused(
            _(
                "The held-out rows of %(version)s cannot be rebuilt: it was not "
                "trained from a stored dataset, or the dataset was deleted."
            )
            % {"version": version}
        )
    if frame is None:
        # Read as it was trained, whatever column types were corrected since.
        frame = datasets.read_frame(
            version.dataset, lineage=version.lineage.dataset.extra
        )
    label, lineage = version.label, version.lineage
    missing = [c for c in [*version.feature_names(), label] if c not in frame]
    if missing:
        raise TrainingRefused(
            _(
                "The dataset of %(version)s no longer has the column(s) %(names)s; "
                "its held-out rows cannot be rebuilt."
            )
            % {"version": version, "names": ", ".join(missing)}
        )
    return split(
        _model_rows(frame, version.feature_names(), label),
        label,
        version.problem_type,
        seed=lineage.seed,
        holdout=lineage.holdout_fraction or settings.CONFIG.training.holdout_fraction,
    )


def rebuild_drift_reference(version: ModelVersion) -> drift_reference.Reference:
    """The drift reference of a version trained before references were saved,
    from its stored dataset and split, and saved. One that cannot
    be rebuilt is saved as such ("no reference: <why>"), not raised."""
    try:
        train, test = stored_split(version)
        predicted = services.predict_batch(
            version, test.drop(columns=[version.label])
        ).labels
        reference = drift_reference.build(
            train,
            predicted,
            schema=version.features,
            problem_type=version.problem_type,
            seed=version.lineage.seed,
        )
    except RegistryError as exc:
        reference = drift_reference.Reference.unavailable(str(exc))
    drift_reference.save(version, reference)
    return reference


def analyse(version: ModelVersion, *, test: pd.DataFrame | None = None) -> ModelVersion:
    """Every model's held-out score, permutation importance and latency.

    Runs after the version is ready; it only adds information, so a failure
    is recorded on the version (and as an event) instead of undoing it. The
    callers have marked it running (a new version is created so, and
    jobs.reanalyse sets it before queueing).
    """
    timings: dict[str, float] = {}
    at = time.monotonic()

    def lap(name: str) -> None:
        nonlocal at
        now = time.monotonic()
        timings[name] = round(now - at, 3)
        at = now

    try:
        # From the published folder, through the verified load every use
        # goes through (the fitted predictor still points at staging).
        predictor = store.load(version)
        predictor.persist()  # importance and latency predict many times
        if test is None:
            test = holdout_rows(version)
        lap("loading")
        label = version.label
        features = test.drop(columns=[label])
        leaderboard = predictor.leaderboard(features, test[label])
        lap("held-out leaderboard")
        # Bounded so it stays a small share of the fit (bench/train.py).
        time_limit = version.lineage.time_limit or 60
        importance = predictor.feature_importance(
            test,
            time_limit=max(0.5, min(60.0, 0.015 * time_limit)),
            seed=version.lineage.seed,
        )
        lap("feature importance")
        speed = _latency(predictor, features)
        lap("latency")
    except Exception as exc:
        error = (
            str(exc)
            if isinstance(exc, RegistryError | TrainingRefused)
            else f"Unexpected error: {type(exc).__name__}: {exc}"
        )
        ModelVersion.objects.filter(pk=version.pk).update(
            analysis=ModelVersion.Analysis.FAILED, analysis_error=error
        )
        version.analysis, version.analysis_error = ModelVersion.Analysis.FAILED, error
        log_event(
            SOURCE,
            "version.analysis_failed",
            f"{version}: leaderboard, importance and latency could not be "
            f"measured: {error}",
            level="error",
            model_version=version,
        )
        return version
    with transaction.atomic():
        fresh = ModelVersion.objects.select_for_update().get(pk=version.pk)
        fresh.lineage = fresh.lineage.replace(**speed, analysis_seconds=timings)
        fresh.leaderboard = leaderboard
        fresh.feature_importance = importance
        fresh.analysis = ModelVersion.Analysis.DONE
        fresh.analysis_error = ""
        fresh.save(
            update_fields=[
                "lineage",
                "leaderboard",
                "feature_importance",
                "analysis",
                "analysis_error",
            ]
        )
    for name in ("lineage", "leaderboard", "feature_importance", "analysis"):
        setattr(version, name, getattr(fresh, name))
    version.analysis_error = ""
    log_event(
        SOURCE,
        "version.analysed",
        f"{version}: held-out leaderboard, importance and latency measured in "
        f"{sum(timings.values()):.1f} s",
        model_version=version,
        data={"seconds": timings},
    )
    return version


def _register(
    name: str,
    staging: Path,
    *,
    user,
    dataset,
    description: str,
    alias: str | None,
    fields: dict,
) -> ModelVersion:
    for _attempt in range(3):
        published = None
        try:
            with transaction.atomic():
                model, _created = RegisteredModel.objects.get_or_create(
                    name=name, defaults={"description": description}
                )
                number = _next_number(model)
                leftover = store.version_dir(name, number)
                if leftover.exists():
                    # Left by a crash between the move and the commit: the
                    # number has no row, so no version owns these files.
                    shutil.rmtree(leftover)
                published, digest = store.publish(staging, model=name, number=number)
                version = ModelVersion.objects.create(
                    model=model,
                    number=number,
                    dataset=dataset,
                    created_by=user if getattr(user, "pk", None) else None,
                    manifest_sha256=digest,
                    **fields,
                )
                names = {alias} if alias else set()
                if not model.aliases.filter(name="production").exists():
                    names.add("production")  # the first version goes live
                for alias_name in names:
                    before = model.aliases.filter(name=alias_name).first()
                    ModelAlias.objects.update_or_create(
                        model=model, name=alias_name, defaults={"version": version}
                    )
                    AliasChange.objects.create(  # the history rollback reads
                        model=model,
                        alias=alias_name,
                        from_version_id=before.version_id if before else None,
                        to_version=version,
                        kind=AliasChange.Kind.TRAINED,
                        user=version.created_by,
                    )
            return version
        except (IntegrityError, OSError) as exc:
            if published is None and isinstance(exc, OSError):
                continue  # another training published this number first
            if isinstance(exc, IntegrityError) and published is not None:
                # Another training took this number first: put the files
                # back and try the next number.
                published.rename(staging)
                continue
            if published is not None:
                shutil.rmtree(published, ignore_errors=True)
            raise
        except BaseException:
            if published is not None:
                shutil.rmtree(published, ignore_errors=True)
            raise
    raise TrainingRefused(
        _("Could not number a new version of %(name)s; try again.") % {"name": name}
    )
