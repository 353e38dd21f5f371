"""AutoGluon for the registry: the only package in the project that imports it.

``adapter`` is TabularPredictor through its public API; ``shortcuts`` holds
the checked speed tricks that need AutoGluon's or LightGBM's internals.
"""

from registry.autogluon.adapter import (
    ALL_METRICS,
    DEFAULT_METRIC,
    FAST_HYPERPARAMETERS,
    METRIC_ALIASES,
    METRICS,
    PROBLEM_TYPES,
    Predictor,
    ProgressCallback,
    _callback_type,
    fit,
    infer_problem_type,
    library_versions,
    load,
    numpy_frame,
    unavailable_model_types,
    version,
)
from registry.autogluon.shortcuts.fused_features import FusedFeatures
from registry.autogluon.shortcuts.lightgbm_matrix import lightgbm_matrix


def __getattr__(name: str):
    # Trainers pickled with a progress callback name its class by this path.
    if name == "_Callback":
        return _callback_type()
    raise AttributeError(f"module 'registry.autogluon' has no attribute {name!r}")


__all__ = [
    "ALL_METRICS",
    "DEFAULT_METRIC",
    "FAST_HYPERPARAMETERS",
    "METRICS",
    "METRIC_ALIASES",
    "PROBLEM_TYPES",
    "FusedFeatures",
    "Predictor",
    "ProgressCallback",
    "fit",
    "infer_problem_type",
    "library_versions",
    "lightgbm_matrix",
    "load",
    "numpy_frame",
    "unavailable_model_types",
    "version",
]
