"""The lleaves adapter: LightGBM boosters compiled to native code.

lleaves (on llvmlite) turns a LightGBM model's text into machine code for this
machine's CPU: the same trees, walked as straight-line code instead of by
LightGBM's generic interpreter, for far less CPU per row (bench/RESULTS.md,
"Inference shortcuts: the figures behind each"). The only module that imports
lleaves or llvmlite.

Compiled code runs when it is loaded: `load` is only ever called by
registry.acceleration after registry.store checked the files against hashes
the version's row vouches for.
"""

from __future__ import annotations

import contextlib
from importlib import metadata
from pathlib import Path

import numpy as np

from registry.errors import RegistryError

# Largest difference accepted between the compiled trees and LightGBM on the
# same rows. lleaves sums the trees in blocks, LightGBM one after another, so
# the last bits of a float may differ (measured: bench/RESULTS.md); a wrong
# split or a wrong objective differs by far more.
TOLERANCE = 1e-9


class CompileError(RegistryError):
    """A booster could not be compiled, or its compiled code disagrees with it."""


def target() -> dict[str, str]:
    """What compiled code is tied to: this CPU and the compiler's versions."""
    import llvmlite.binding as llvm  # heavy (LLVM): only when compiling

    llvm.initialize()
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # LLVM cannot read this CPU's features
        features = ""
    return {
        "cpu": llvm.get_host_cpu_name(),
        "cpu_features": features,
        "lleaves": metadata.version("lleaves"),
        "llvmlite": metadata.version("llvmlite"),
    }


class CompiledBooster:
    """A compiled booster: predict() on a float matrix, as Booster.predict would."""

    def __init__(self, model) -> None:
        self._model = model  # keeps the machine code alive

    @property
    def num_feature(self) -> int:
        return self._model.num_feature()

    @property
    def num_trees(self) -> int:
        return self._model.num_trees()

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        data = np.ascontiguousarray(matrix, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != self.num_feature:
            raise CompileError(
                f"The compiled model expects {self.num_feature} features, "
                f"got an array of shape {data.shape}."
            )
        # One thread: the callers (a dispatch's predict stage, one request)
        # run beside other work; this code is fast enough on one core.
        return self._model.predict(data, n_jobs=1)


def _model(text_path: Path, object_path: Path) -> CompiledBooster:
    import lleaves  # heavy (LLVM): only for versions with compiled boosters

    model = lleaves.Model(model_file=str(text_path))
    # An existing object file is loaded as it is; a missing one is compiled
    # and written there.
    model.compile(cache=str(object_path))
    return CompiledBooster(model)


def compile_booster(
    model_text: str, text_path: Path, object_path: Path
) -> CompiledBooster:
    """Compile a booster's text (Booster.model_to_string()) into object_path."""
    text_path.write_text(model_text)
    with contextlib.suppress(FileNotFoundError):
        object_path.unlink()
    try:
        return _model(text_path, object_path)
    except Exception as exc:
        raise CompileError(f"lleaves could not compile the model: {exc}") from exc


def load(text_path: Path, object_path: Path) -> CompiledBooster:
    """Load compiled code. Only after its files were checked against their hashes."""
    if not object_path.is_file():
        raise CompileError(f"{object_path.name} is missing.")
    try:
        return _model(text_path, object_path)
    except Exception as exc:
        raise CompileError(f"lleaves could not load {object_path.name}: {exc}") from exc


def probe_rows(booster, rows: int = 4096, seed: int = 0) -> np.ndarray:
    """Rows that take every branch of the booster's trees: each feature drawn
    from its split thresholds, the floats either side of them, missing values
    and extremes (categorical features: every category seen, one more, and
    missing). Compared on these, compiled code that agrees with LightGBM
    agrees on every path a row can take, not only on the paths some data took.
    """
    dump = booster.dump_model()
    features = int(dump["max_feature_idx"]) + 1
    numeric: list[set[float]] = [set() for _ in range(features)]
    categories: list[set[int]] = [set() for _ in range(features)]

    def walk(node: dict) -> None:
        if "split_feature" not in node:
            return
        feature = int(node["split_feature"])
        if node.get("decision_type") == "==":
            for value in str(node["threshold"]).split("||"):
                categories[feature].add(int(value))
        else:
            threshold = float(node["threshold"])
            numeric[feature].update(
                (
                    threshold,
                    np.nextafter(threshold, -np.inf),
                    np.nextafter(threshold, np.inf),
                )
            )
        walk(node["left_child"])
        walk(node["right_child"])

    for tree in dump["tree_info"]:
        walk(tree["tree_structure"])
    random = np.random.default_rng(seed)
    matrix = np.empty((rows, features), dtype=np.float64)
    for feature in range(features):
        if categories[feature]:
            top = max(categories[feature])
            values = [float(v) for v in range(top + 2)] + [np.nan]
        else:
            values = [*sorted(numeric[feature]), np.nan, -1e300, 0.0, 1e300]
        matrix[:, feature] = random.choice(np.array(values, dtype=np.float64), rows)
    return matrix


def largest_difference(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if expected.shape != actual.shape:
        raise CompileError(
            f"The compiled model answers in shape {actual.shape}, "
            f"LightGBM in {expected.shape}."
        )
    if expected.size == 0:
        return 0.0
    both_missing = np.isnan(expected) & np.isnan(actual)
    difference = np.where(both_missing, 0.0, np.abs(expected - actual))
    if np.isnan(difference).any():
        return float("inf")
    return float(difference.max())
