"""The AutoGluon adapter: TabularPredictor through its public API only.

Speed tricks that need AutoGluon's or LightGBM's internals live apart, one
module each, in registry.autogluon.shortcuts. Everything AutoGluon raises
comes out as ``AutoGluonError`` (a RegistryError) with a sentence a user can
read. Loading is only ever called by the model store after it verified the
directory's manifest: AutoGluon models are pickles, and unpickling runs code.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import platform
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from registry.errors import AutoGluonError, TrainingCancelled

# AutoGluon is imported inside the functions that use it: importing it takes
# seconds, and most processes (pages, cron commands) never need it.

PROBLEM_TYPES = ("binary", "multiclass", "regression")
DEFAULT_METRIC = {
    "binary": "accuracy",
    "multiclass": "accuracy",
    "regression": "root_mean_squared_error",
}
METRICS = {
    "binary": [
        "accuracy",
        "balanced_accuracy",
        "f1",
        "roc_auc",
        "log_loss",
        "precision",
        "recall",
        "mcc",
    ],
    "multiclass": [
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "f1_weighted",
        "roc_auc_ovr",
        "log_loss",
        "mcc",
    ],
    "regression": [
        "root_mean_squared_error",
        "mean_absolute_error",
        "r2",
        "median_absolute_error",
        "mean_absolute_percentage_error",
    ],
}
ALL_METRICS = sorted({name for names in METRICS.values() for name in names})
# Other names AutoGluon accepts for a catalogued metric; the version keeps
# AutoGluon's own name, under which it reports the score.
METRIC_ALIASES = {"roc_auc_ovr_macro": "roc_auc_ovr"}
# Small, quick models for tests, the demo's smoke runs and benchmarks.
FAST_HYPERPARAMETERS = {"GBM": {"num_boost_round": 40, "num_leaves": 15}}

# (stage, models trained so far) -> True to stop training now.
ProgressCallback = Callable[[str, int], bool]


def version() -> str:
    return metadata.version("autogluon.tabular")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name, dist in (
        ("autogluon", "autogluon.tabular"),
        ("lightgbm", "lightgbm"),
        ("scikit-learn", "scikit-learn"),
        ("pandas", "pandas"),
        ("numpy", "numpy"),
    ):
        try:
            versions[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def numpy_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable pandas dtypes (Int64, boolean, string) as numpy ones.

    AutoGluon silently drops columns of pandas' nullable extension dtypes.
    """
    converted = {}
    for name, column in frame.items():
        dtype = column.dtype
        if isinstance(dtype, pd.CategoricalDtype) or not isinstance(
            dtype, pd.api.extensions.ExtensionDtype
        ):
            continue
        if pd.api.types.is_bool_dtype(dtype):
            converted[name] = column.astype(object).where(column.notna(), np.nan)
        elif pd.api.types.is_integer_dtype(dtype):
            converted[name] = (
                column.astype("int64")
                if not column.isna().any()
                else column.astype("float64")
            )
        elif pd.api.types.is_float_dtype(dtype):
            converted[name] = column.astype("float64")
        elif pd.api.types.is_string_dtype(dtype):
            converted[name] = column.astype(object).where(column.notna(), np.nan)
        elif isinstance(dtype, pd.DatetimeTZDtype):
            converted[name] = column.dt.tz_convert("UTC").dt.tz_localize(None)
        else:
            converted[name] = column.astype(object)
    if not converted:
        return frame
    return frame.assign(**converted)


# AutoGluon says why it chose a problem type only in a log line ("... because
# ..."); the reason is read from that line, and left out if it changes.
class _ReasonHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=1)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def infer_problem_type(label: pd.Series) -> tuple[str, str]:
    """AutoGluon's guess of the problem type, and its reason in words."""
    from autogluon.core.utils import infer_problem_type as ag_infer  # imports slowly

    handler = _ReasonHandler()
    ag_logger = logging.getLogger("autogluon.core.utils.utils")
    old_level = ag_logger.level
    ag_logger.addHandler(handler)
    ag_logger.setLevel(logging.INFO)
    try:
        problem_type = ag_infer(numpy_frame(label.to_frame())[label.name])
    except (ValueError, NotImplementedError, TypeError) as exc:
        raise AutoGluonError(
            f"AutoGluon cannot infer the problem type of {label.name!r}: {exc}"
        ) from exc
    finally:
        ag_logger.removeHandler(handler)
        ag_logger.setLevel(old_level)
    reason = ""
    for message in handler.messages:
        if "because" in message:
            reason = message.split("because", 1)[1].strip(" ().")
            break
    distinct = label.dropna().nunique()
    reason = (
        f"{reason}; {distinct} distinct values"
        if reason
        else (f"{distinct} distinct values")
    )
    return problem_type, reason


_callback_class = None


def _progress_callback(report: ProgressCallback):
    """An AutoGluon callback calling `report`."""
    return _callback_type()(report)


def _callback_type():
    """The callback class, made on first use (AutoGluon imports slowly) and
    importable by name as registry.autogluon._Callback, as the trainer
    pickles it."""
    global _callback_class
    if _callback_class is None:
        from autogluon.core.callbacks import AbstractCallback  # imports slowly

        class _Callback(AbstractCallback):
            def __init__(self, report):
                super().__init__()
                self.report = report
                self.stopped = False

            def __getstate__(self):
                return {**self.__dict__, "report": None}

            def _call(self, stage, trainer) -> bool:
                if self.report is None:
                    return False
                stop = bool(self.report(stage, len(trainer.get_model_names())))
                self.stopped = self.stopped or stop
                return stop

            def _before_model_fit(self, trainer, model, **kwargs):
                return self._call(f"fitting {model.name}", trainer), False

            def _after_model_fit(self, trainer, model_names, **kwargs):
                return self._call("between models", trainer)

        _Callback.__qualname__ = "_Callback"
        _Callback.__module__ = "registry.autogluon"
        _callback_class = _Callback
    return _callback_class


class _NoTorchNotice(logging.Filter):
    """AutoGluon looks for PyTorch (for GPUs) once per model and logs an error
    each time it is missing; this platform trains on CPUs without it, so the
    line is noise in every job log (eight per training)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Failed to import torch" not in str(record.msg)


logging.getLogger("autogluon.common.utils.resource_utils").addFilter(_NoTorchNotice())


@contextlib.contextmanager
def _captured_log(log_file: Path | None) -> Iterator[None]:
    if log_file is None:
        yield
        return
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    handler.setLevel(logging.INFO)
    ag_logger = logging.getLogger("autogluon")
    ag_logger.addHandler(handler)
    try:
        yield
    finally:
        ag_logger.removeHandler(handler)
        handler.close()


class Predictor:
    """A fitted or loaded TabularPredictor behind the project's narrow API."""

    def __init__(self, predictor) -> None:
        self._predictor = predictor

    @property
    def tabular(self):
        """The TabularPredictor itself, for registry.autogluon.shortcuts."""
        return self._predictor

    @property
    def path(self) -> Path:
        return Path(self._predictor.path)

    @property
    def problem_type(self) -> str:
        return self._predictor.problem_type

    @property
    def eval_metric(self) -> str:
        return self._predictor.eval_metric.name

    @property
    def classes(self) -> list:
        if self.problem_type not in ("binary", "multiclass"):
            return []
        return [_plain(value) for value in self._predictor.class_labels]

    @property
    def best_model(self) -> str:
        return self._predictor.model_best

    def model_names(self) -> list[str]:
        return list(self._predictor.model_names())

    def persist(self) -> None:
        try:
            self._predictor.persist(models="best")
        except Exception as exc:
            raise AutoGluonError(
                f"AutoGluon could not persist the model: {exc}"
            ) from exc

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        try:
            return self._predictor.predict(numpy_frame(frame), model=self._member)
        except Exception as exc:
            raise AutoGluonError(f"AutoGluon could not predict: {exc}") from exc

    def predict_proba(self, frame: pd.DataFrame) -> pd.DataFrame:
        try:
            return self._predictor.predict_proba(
                numpy_frame(frame), as_multiclass=True, model=self._member
            )
        except Exception as exc:
            raise AutoGluonError(f"AutoGluon could not predict: {exc}") from exc

    # The model predictions come from: None (AutoGluon's best), or one a
    # shortcut chose (shortcuts.single_member) through the public model=.
    _member: str | None = None

    def predict_with(self, model: str | None) -> None:
        """Predict with this one of the predictor's models from now on."""
        self._member = model

    @property
    def predicting_with(self) -> str | None:
        return self._member

    def leaderboard(
        self, features: pd.DataFrame | None = None, truth: pd.Series | None = None
    ) -> list[dict]:
        """Every model with its validation score and, given held-out rows, its
        held-out score (one prediction pass for all models), best first."""
        classification = self.problem_type in ("binary", "multiclass")
        sign = 1 if self.greater_is_better() else -1
        every: dict = {}
        try:
            if features is not None:
                data = numpy_frame(features)
                if classification:
                    every = self._predictor.predict_proba_multi(
                        data, as_multiclass=True
                    )
                else:
                    every = self._predictor.predict_multi(data)
            board = self._predictor.leaderboard(silent=True)
            rows = []
            for record in board.to_dict("records"):
                name = record["model"]
                score = None
                if name in every:
                    result = self._predictor.evaluate_predictions(
                        y_true=truth,
                        y_pred=every[name],
                        silent=True,
                        auxiliary_metrics=False,
                    )
                    score = _number(result[self.eval_metric], sign)
                rows.append(
                    {
                        "model": name,
                        "score_test": score,
                        "score_val": _number(record.get("score_val"), sign),
                        "fit_time": _number(record.get("fit_time")),
                        "pred_time_val": _number(record.get("pred_time_val")),
                        "stack_level": int(record.get("stack_level") or 1),
                        "best": name == self.best_model,
                    }
                )
        except Exception as exc:
            raise AutoGluonError(
                f"AutoGluon could not score the models: {exc}"
            ) from exc
        # Best first (lowest error, highest accuracy): held-out when measured.
        key = "score_test" if every else "score_val"
        rows.sort(key=lambda r: (r[key] is None, -sign * (r[key] or 0)))
        return rows

    def predict_both(
        self, frame: pd.DataFrame
    ) -> tuple[pd.Series, pd.DataFrame | None]:
        """Predictions and (classification) probabilities from one pass."""
        if self.problem_type not in ("binary", "multiclass"):
            return self.predict(frame), None
        proba = self.predict_proba(frame)
        try:
            return self._predictor.predict_from_proba(proba), proba
        except Exception as exc:
            raise AutoGluonError(f"AutoGluon could not predict: {exc}") from exc

    def eval_score(
        self, truth: pd.Series, predicted: pd.Series, proba: pd.DataFrame | None
    ) -> float:
        """The eval metric on held-out rows, in its natural sign (RMSE positive)."""
        from autogluon.core.metrics import get_metric  # imports slowly

        try:
            result = self._predictor.evaluate_predictions(
                y_true=truth,
                y_pred=proba if proba is not None else predicted,
                silent=True,
                auxiliary_metrics=False,
            )
            metric = get_metric(self.eval_metric, self.problem_type)
            return float(metric.convert_score_to_original(result[self.eval_metric]))
        except Exception as exc:
            raise AutoGluonError(f"AutoGluon could not score the model: {exc}") from exc

    def greater_is_better(self) -> bool:
        return bool(self._predictor.eval_metric.greater_is_better_internal)

    def feature_importance(
        self, test: pd.DataFrame, *, time_limit: float, seed: int = 0
    ) -> list[dict]:
        """Permutation importance on held-out rows, bounded in time and rows."""
        try:
            table = self._predictor.feature_importance(
                numpy_frame(test),
                subsample_size=min(len(test), 500),
                num_shuffle_sets=3,
                time_limit=max(time_limit, 0.5),
                silent=True,
            )
        except Exception as exc:
            raise AutoGluonError(
                f"AutoGluon could not compute feature importance: {exc}"
            ) from exc
        return [
            {
                "feature": str(name),
                "importance": _number(row["importance"]),
                "stddev": _number(row["stddev"]),
                "p_value": _number(row["p_value"]),
            }
            for name, row in table.iterrows()
        ]

    def prune(self) -> list[str]:
        """Keep only the best model (and what it depends on); return the deleted."""
        before = set(self.model_names())
        try:
            self._predictor.delete_models(models_to_keep="best", dry_run=False)
            self._predictor.save_space()
        except Exception as exc:
            raise AutoGluonError(f"AutoGluon could not prune the model: {exc}") from exc
        return sorted(before - set(self.model_names()))


# Model families of the presets and the library each needs. The platform
# installs LightGBM only (fast install, fast CPU inference); families whose
# library is missing are left out instead of failing one by one in the log.
_FAMILY_LIBRARIES = {
    "NN_TORCH": "torch",
    "FASTAI": "fastai",
    "XGB": "xgboost",
    "CAT": "catboost",
}


def unavailable_model_types() -> list[str]:
    return sorted(
        family
        for family, library in _FAMILY_LIBRARIES.items()
        if importlib.util.find_spec(library) is None
    )


def fit(
    train: pd.DataFrame,
    *,
    label: str,
    path: Path,
    problem_type: str | None = None,
    eval_metric: str | None = None,
    preset: str = "medium_quality",
    time_limit: float | None = None,
    seed: int = 0,
    hyperparameters: dict | None = None,
    num_cpus: int | str = "auto",
    progress: ProgressCallback | None = None,
    log_file: Path | None = None,
) -> Predictor:
    """Fit a TabularPredictor into `path` (a new folder)."""
    from autogluon.tabular import TabularPredictor  # AutoGluon imports slowly

    callback = _progress_callback(progress) if progress else None
    kwargs = {}
    skipped = unavailable_model_types()
    if skipped:
        kwargs["excluded_model_types"] = skipped
    if hyperparameters is not None:
        kwargs["hyperparameters"] = hyperparameters
        kwargs["fit_weighted_ensemble"] = False
    try:
        with _captured_log(log_file):
            predictor = TabularPredictor(
                label=label,
                path=str(path),
                problem_type=problem_type or None,
                eval_metric=eval_metric or None,
                verbosity=2 if log_file else 0,
            ).fit(
                numpy_frame(train),
                presets=preset,
                time_limit=time_limit,
                num_cpus=num_cpus,
                ag_args_fit={"random_seed": seed},
                callbacks=[callback] if callback else None,
                **kwargs,
            )
    except Exception as exc:
        if callback is not None and callback.stopped:
            raise TrainingCancelled("Training was cancelled.") from exc
        raise AutoGluonError(f"AutoGluon training failed: {exc}") from exc
    if callback is not None and callback.stopped:
        raise TrainingCancelled("Training was cancelled.")
    if not predictor.model_names():
        raise AutoGluonError(
            "AutoGluon trained no model within "
            f"{time_limit or 0:.0f} s; allow more time."
        )
    return Predictor(predictor)


def load(path: Path) -> Predictor:
    """Load a predictor folder. Only the model store calls this, after checks."""
    from autogluon.tabular import TabularPredictor  # AutoGluon imports slowly

    try:
        predictor = TabularPredictor.load(
            str(path), verbosity=0, require_py_version_match=False
        )
    except Exception as exc:
        raise AutoGluonError(f"AutoGluon could not load the model: {exc}") from exc
    return Predictor(predictor)


def _number(value, sign: int = 1) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(number):
        return None
    return sign * number


def _plain(value):
    """numpy scalars as plain Python values (for JSON)."""
    return value.item() if hasattr(value, "item") else value
