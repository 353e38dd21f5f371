"""The AutoGluon adapter: the only module in the project that imports AutoGluon.

Everything AutoGluon raises comes out as ``AutoGluonError`` (a RegistryError)
with a sentence a user can read. Loading is only ever called by the model
store after it verified the directory's manifest: AutoGluon models are
pickles, and unpickling runs code.
"""

from __future__ import annotations

import contextlib
import logging
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from registry.errors import AutoGluonError, TrainingCancelled

logger = logging.getLogger(__name__)

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
        "roc_auc_ovr_macro",
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


class _ReasonHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=1)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def infer_problem_type(label: pd.Series) -> tuple[str, str]:
    """AutoGluon's guess of the problem type, and its reason in words."""
    from autogluon.core.utils import infer_problem_type as ag_infer

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
    """An AutoGluon callback calling `report`; created lazily (AutoGluon
    imports slowly) but importable by name, as the trainer pickles it."""
    global _callback_class
    if _callback_class is None:
        from autogluon.core.callbacks import AbstractCallback

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
        globals()["_Callback"] = _Callback
        _callback_class = _Callback
    return _callback_class(report)


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


@dataclass
class BoosterSlot:
    """A LightGBM booster inside a persisted predictor, and where it came from."""

    # The AutoGluon model: "LightGBMXT"; a bagged child "LightGBM_BAG_L1/S1F1".
    key: str
    model_file: str  # its pickle, relative to the predictor folder (a manifest key)
    booster: Any  # lightgbm.Booster
    owner: Any  # the AutoGluon model whose .model it is

    def use(self, compiled) -> None:
        """Predict with `compiled` (registry.compiled.CompiledBooster) from now on."""
        self.owner.model = _CompiledBooster(self.booster, compiled)


def lightgbm_matrix(data: pd.DataFrame, pandas_categorical) -> np.ndarray | None:
    """The matrix LightGBM's own pandas conversion (lightgbm.basic.
    _data_from_pandas) makes for a booster trained with these categories,
    for frames of numpy numbers and categoricals; None for anything else.

    Same values and dtype, built column by column: LightGBM's copies the
    frame, recodes every categorical column through DataFrame.apply and
    replace, ~1.3 ms per call whatever the rows, which a dispatch pays per
    chunk and the Showroom per request.
    """
    if data.empty:
        return None
    categories = iter(pandas_categorical or [])
    columns, dtypes = [], [np.dtype(np.float32)]
    cat_columns = 0
    for name, dtype in zip(data.columns, data.dtypes, strict=True):
        series = data[name]
        if isinstance(dtype, pd.CategoricalDtype):
            cat_columns += 1
            trained = next(categories, None)
            if trained is None:
                return None
            if list(dtype.categories) != list(trained):
                series = series.cat.set_categories(trained)
            codes = series.cat.codes.to_numpy()
            unknown = codes == -1
            values = codes
            if unknown.any():
                values = codes.astype(np.float64)
                values[unknown] = np.nan
        elif isinstance(dtype, np.dtype) and dtype.kind in "biuf":
            values = series.to_numpy()
        else:
            return None
        columns.append(values)
        dtypes.append(values.dtype)
    if cat_columns != len(pandas_categorical or []):
        return None
    matrix = np.empty((len(data), len(columns)), dtype=np.result_type(*dtypes))
    for index, values in enumerate(columns):
        matrix[:, index] = values
    return matrix


@dataclass(frozen=True)
class _Recipe:
    """How one column AutoGluon's feature pipeline gives is made from one
    input column: missing values filled (FillNa), coded into the trained
    categories (Category) and those renamed 0..n-1 (CategoryMemoryMinimize)."""

    source: str
    fill: Any = None
    categories: pd.Index | None = None
    renamed: pd.Index | None = None


class FusedFeatures:
    """AutoGluon's default feature pipeline in one pass over the columns.

    The pipeline AutoGluon fits for numeric and categorical features (types
    as trained, missing text filled, numbers as they are, text coded into
    the trained categories, numbered 0..n-1) runs ten generators per call,
    each copying or rebuilding the frame: ~4.5 ms for 10k rows, which a
    dispatch pays per chunk and the Showroom per request. This makes the
    same columns directly, and codes categorical inputs (a dispatch's text
    columns, dictionary-encoded by Arrow) through their few categories
    instead of every row's string.

    Built only from a pipeline of the generator types it knows, read from
    their fitted state (`build`, else None); used only once it gave exactly
    AutoGluon's frame on probe rows (Predictor.fuse_features). A call whose
    columns are not of the trained types goes to AutoGluon's own pipeline.
    """

    def __init__(
        self,
        features_in: list[str],
        dtypes: dict[str, np.dtype],
        recipes: dict[str, _Recipe],
        fallback: Callable[[pd.DataFrame], pd.DataFrame],
    ) -> None:
        self.features_in = features_in
        self.dtypes = dtypes
        self.recipes = recipes
        self.fallback = fallback
        coded = {r.source for r in recipes.values() if r.categories is not None}
        # Inputs that may come as categoricals of text: those only coded.
        self.coded = coded - {
            r.source for r in recipes.values() if r.categories is None
        }
        self.missing_code = {
            name: (
                int(r.categories.get_indexer([r.fill])[0]) if r.fill is not None else -1
            )
            for name, r in recipes.items()
            if r.categories is not None
        }

    @classmethod
    def build(cls, learner) -> FusedFeatures | None:
        """From a fitted learner's feature pipeline; None when it holds a
        generator (or a setting) this does not do exactly."""
        try:
            return cls._build(learner)
        except _Refused:
            return None
        except Exception:  # AutoGluon's internals changed: no shortcut
            logger.warning("AutoGluon's feature pipeline not read", exc_info=True)
            return None

    @classmethod
    def _build(cls, learner) -> FusedFeatures:
        from autogluon.features.generators import (
            AsTypeFeatureGenerator,
            BulkFeatureGenerator,
            CategoryFeatureGenerator,
            DropDuplicatesFeatureGenerator,
            DropUniqueFeatureGenerator,
            FillNaFeatureGenerator,
            IdentityFeatureGenerator,
        )

        steps = {
            AsTypeFeatureGenerator: _types_step,
            FillNaFeatureGenerator: _fill_step,
            IdentityFeatureGenerator: _same_step,
            DropUniqueFeatureGenerator: _same_step,
            DropDuplicatesFeatureGenerator: _same_step,
            CategoryFeatureGenerator: _category_step,
        }
        generators = list(learner.feature_generators)
        _require(len(generators) == 1)
        pipeline = generators[0]
        _require(isinstance(pipeline, BulkFeatureGenerator) and _simple(pipeline))
        _require(bool(pipeline.features_in))
        recipes = {name: _Recipe(name) for name in pipeline.features_in}
        dtypes: dict[str, np.dtype] = {}  # AsType's, the pipeline's first step
        for stage in pipeline.generators:
            made: dict[str, _Recipe] = {}
            for generator in stage:
                step = steps.get(type(generator))  # exact types, no subclass
                _require(step is not None)
                taken = {name: recipes[name] for name in generator.features_in}
                out = step(generator, taken, dtypes)
                _require(list(out) == list(generator.features_out))
                _require(not set(out) & set(made))
                made.update(out)
            recipes = made
        _require(set(dtypes) == set(pipeline.features_in))
        _require(list(recipes) == list(pipeline.features_out))
        return cls(
            list(pipeline.features_in),
            {name: np.dtype(dtype) for name, dtype in dtypes.items()},
            recipes,
            learner.transform_features,
        )

    def __call__(self, data: pd.DataFrame) -> pd.DataFrame:
        columns = {}
        for name in self.features_in:
            column = data.get(name)
            if not isinstance(column, pd.Series) or not self._trained_type(
                name, column.dtype
            ):
                return self.fallback(data)
            columns[name] = column
        made = {}
        for name, recipe in self.recipes.items():
            column = columns[recipe.source]
            if recipe.categories is not None:
                made[name] = self._coded(name, recipe, column)
            elif recipe.fill is not None:
                made[name] = column.fillna(recipe.fill).to_numpy()
            else:
                made[name] = column.to_numpy()
        return pd.DataFrame(made, index=data.index)

    def _trained_type(self, name: str, dtype) -> bool:
        if dtype == self.dtypes[name]:
            return True
        # Categoricals of text are the object column AutoGluon would make
        # of them (astype(object)), for inputs that are only coded.
        return (
            name in self.coded
            and isinstance(dtype, pd.CategoricalDtype)
            and dtype.categories.inferred_type in ("string", "empty")
        )

    def _coded(self, name: str, recipe: _Recipe, column: pd.Series) -> pd.Categorical:
        if isinstance(column.dtype, pd.CategoricalDtype):
            # Each input category's trained code, then one take per row;
            # the last entry is for missing values (code -1).
            table = np.append(
                recipe.categories.get_indexer(column.cat.categories),
                self.missing_code[name],
            )
            codes = table[column.cat.codes.to_numpy()]
        else:
            if recipe.fill is not None:
                column = column.fillna(recipe.fill)
            codes = pd.Categorical(column, categories=recipe.categories).codes
        return pd.Categorical.from_codes(
            codes, dtype=pd.CategoricalDtype(recipe.renamed)
        )


class _Refused(Exception):
    """The feature pipeline holds something FusedFeatures does not do exactly."""


def _require(condition: bool) -> None:
    if not condition:
        raise _Refused


def _simple(generator, posts: int = 0) -> bool:
    """No passthrough, no type step of its own, at most `posts` post-steps."""
    return (
        not (generator.passthrough and generator.passthrough_features)
        and generator._pre_astype_generator is None
        and len(generator._post_generators or []) <= posts
        and all(isinstance(f, str) for f in generator.features_in)
    )


def _text(recipe: _Recipe, dtypes: dict) -> bool:
    """An input trained as text (object), not coded into categories yet."""
    return dtypes.get(recipe.source) == np.dtype(object) and recipe.categories is None


def _types_step(generator, taken: dict, dtypes: dict) -> dict:
    # Types as trained: checked per call (FusedFeatures._trained_type).
    _require(_simple(generator) and not dtypes and not len(generator._bool_features))
    _require(all(recipe.source == name for name, recipe in taken.items()))
    dtypes.update(generator._type_map_real_opt)
    return taken


def _same_step(generator, taken: dict, dtypes: dict) -> dict:
    # Identity; the drops dropped their columns when fitted.
    _require(_simple(generator))
    return taken


def _fill_step(generator, taken: dict, dtypes: dict) -> dict:
    _require(_simple(generator))
    fills = generator._fillna_feature_map or {}
    out = {}
    for name, recipe in taken.items():
        if name in fills:
            value = fills[name]
            _require(_text(recipe, dtypes) and recipe.fill is None)
            _require(isinstance(value, str))
            recipe = _Recipe(recipe.source, fill=value)
        out[name] = recipe
    return out


def _category_step(generator, taken: dict, dtypes: dict) -> dict:
    from autogluon.features.generators.memory_minimize import (
        CategoryMemoryMinimizeFeatureGenerator,
    )

    _require(_simple(generator, posts=1))
    posts = generator._post_generators or []
    for post in posts:  # the categories renamed 0..n-1
        _require(type(post) is CategoryMemoryMinimizeFeatureGenerator)
        _require(_simple(post) and post.features_in == generator.features_out)
    category_map = generator.category_map or {}
    _require(generator._stateful_categories and generator._fillna_map is None)
    _require(list(category_map) == list(generator.features_in))
    out = {}
    for name, recipe in taken.items():
        _require(_text(recipe, dtypes))
        categories = pd.Index(category_map[name])
        renamed = pd.Index(posts[0]._category_maps[name]) if posts else categories
        _require(len(renamed) == len(categories))
        out[name] = _Recipe(recipe.source, recipe.fill, categories, renamed)
    return out


class _CompiledBooster:
    """Stands in for a lightgbm.Booster on a persisted model: the predictions
    AutoGluon asks for come from the compiled trees, with the same conversion
    of the frame LightGBM makes; everything else is the booster's own."""

    def __init__(self, booster, compiled) -> None:
        self._booster = booster
        self._compiled = compiled

    def predict(self, data, *args, num_threads: int = 0, **kwargs):
        if args or kwargs:  # raw scores, leaves, contributions, iterations
            return self._booster.predict(data, *args, num_threads=num_threads, **kwargs)
        if isinstance(data, pd.DataFrame):
            matrix = lightgbm_matrix(data, self._booster.pandas_categorical)
            if matrix is None:
                from lightgbm.basic import _data_from_pandas

                matrix = _data_from_pandas(
                    data, "auto", "auto", self._booster.pandas_categorical
                )[0]
            data = matrix
        return self._compiled.predict(data)

    def __getattr__(self, name):
        return getattr(self._booster, name)

    def __reduce__(self):
        # Saved (never by the platform) as the plain booster it stands for.
        return (
            type(self._booster),
            (None, None, None, self._booster.model_to_string()),
        )


class Predictor:
    """A fitted or loaded TabularPredictor behind the project's narrow API."""

    def __init__(self, predictor) -> None:
        self._predictor = predictor

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

    def lightgbm_boosters(self) -> list[BoosterSlot]:
        """The LightGBM boosters the best model predicts with (after persist())."""
        from autogluon.core.models import BaggedEnsembleModel
        from autogluon.tabular.models import LGBModel

        root = self.path.resolve()
        slots: list[BoosterSlot] = []

        def visit(model, key: str) -> None:
            if isinstance(model, LGBModel) and model.model is not None:
                booster = getattr(model.model, "_booster", model.model)
                file = Path(model.path).resolve() / model.model_file_name
                slots.append(
                    BoosterSlot(key, file.relative_to(root).as_posix(), booster, model)
                )
            elif isinstance(model, BaggedEnsembleModel):
                for child in model.models:
                    if not isinstance(child, str):  # persisted children only
                        visit(child, f"{key}/{child.name}")

        trainer = self._predictor._trainer
        try:
            names = trainer.get_minimum_model_set(self.best_model)
            for name in names:
                model = trainer.models.get(name)
                if model is not None and not isinstance(model, str):
                    visit(model, name)
        except Exception as exc:
            raise AutoGluonError(
                f"AutoGluon's models could not be inspected: {exc}"
            ) from exc
        return slots

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

    # The model AutoGluon's predictions come from: None (its best model), or
    # the best model's only member (skip_single_member_ensemble).
    _member: str | None = None

    def sole_member(self) -> str | None:
        """The one model a weighted-ensemble best model gives all its weight
        to (AutoGluon's usual result on small data), else None."""
        try:
            weights = self._predictor._trainer.load_model(
                self.best_model
            )._get_model_weights()
        except Exception:  # not an ensemble, or AutoGluon changed: no shortcut
            return None
        nonzero = [(name, weight) for name, weight in weights.items() if weight]
        if len(nonzero) == 1 and float(nonzero[0][1]) == 1.0:
            return nonzero[0][0]
        return None

    def skip_single_member_ensemble(self, probe: pd.DataFrame) -> str | None:
        """Predict with the sole member of a one-member ensemble directly,
        when on `probe` it gives exactly the ensemble's predictions (and
        probabilities): the same results without the ensemble's per-call
        work (~0.8 ms a call, which a dispatch pays per chunk and the
        Showroom per request). Returns the member used, or None."""
        member = self.sole_member()
        if member is None or probe.empty:
            return None
        data = numpy_frame(probe)

        def outputs(model: str | None) -> list:
            labels = self._predictor.predict(data, model=model)
            if self.problem_type not in ("binary", "multiclass"):
                return [labels]
            proba = self._predictor.predict_proba(data, as_multiclass=True, model=model)
            return [labels, proba]

        try:
            ensemble, alone = outputs(None), outputs(member)
            same = all(a.equals(b) for a, b in zip(ensemble, alone, strict=True))
        except Exception:
            return None
        if not same:
            return None
        self._member = member
        return member

    def fuse_features(self, probes: list[pd.DataFrame]) -> bool:
        """Run AutoGluon's feature pipeline as FusedFeatures from now on,
        when it can be built and gives exactly AutoGluon's frame (columns,
        types, categories, values) on every probe; returns whether it does."""
        learner = self._predictor._learner
        fused = FusedFeatures.build(learner)
        if fused is None or not probes:
            return False
        try:
            for probe in probes:
                data = numpy_frame(probe)
                pd.testing.assert_frame_equal(
                    fused(data), learner.transform_features(data), check_exact=True
                )
        except Exception:  # AssertionError: not the same frame
            return False
        learner.transform_features = fused
        return True

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
        from autogluon.core.metrics import get_metric

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
    import importlib.util

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
    from autogluon.tabular import TabularPredictor

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
    from autogluon.tabular import TabularPredictor

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
