"""Real models for tests: real AutoGluon on tiny data, in a few seconds.

Other apps' tests and bench/showroom.py call ``train_tiny``; the root
conftest.py uses it for the ``tiny_classifier`` and ``tiny_regressor``
fixtures. A predictor fitted once per process on the same (frame, label) is
copied instead of fitted again, and its compiled code reused: everything
after the fit (scores, lineage, analysis) still runs on the real registry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pandas as pd

from registry import acceleration, autogluon, store, training
from registry import compiled as native
from registry.models import ModelVersion
from registry.training import TrainOptions, train_version

# (frame hash, label) -> a predictor folder fitted earlier in this process.
_fitted: dict[tuple[str, str], Path] = {}
_compiled: dict[tuple[str, str], dict] = {}  # the outcome of compiling it
_lock = threading.Lock()


def frame_key(frame: pd.DataFrame, label: str) -> tuple[str, str]:
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()
    )
    digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(",".join(map(str, frame.dtypes)).encode())
    return digest.hexdigest(), label


@contextlib.contextmanager
def fitted_from(folder: Path) -> Iterator[None]:
    """train_version copies the fitted predictor `folder` instead of fitting,
    and compiles nothing (the caller reuses the compiled code)."""

    def copy_fit(train, *, path: Path, **kwargs) -> autogluon.Predictor:
        shutil.copytree(folder, path)
        return autogluon.load(path)

    with (
        mock.patch.object(training.autogluon, "fit", copy_fit),
        mock.patch.object(training.acceleration, "compile_version", lambda *a: {}),
    ):
        yield


def reuse_compiled(version: ModelVersion, folder: Path, outcome: dict) -> dict:
    """Record the compiled boosters (`folder`, and their `outcome`) of another
    version fitted from the same model files, instead of compiling them
    again. Compiles when the model files or the CPU are not the same."""
    if outcome.get("status") != "compiled":
        return acceleration.compile_version(version)
    source = json.loads((folder / store.COMPILED_MANIFEST).read_text())
    files = store.predictor_files(version)
    same = source.get("target") == native.target() and all(
        files.get(entry["model_file"]) == entry["model_sha256"]
        for entry in source.get("boosters") or []
    )
    if not same:
        return acceleration.compile_version(version)
    staging = store.compiled_staging(version)
    for name in source["files"]:
        shutil.copy2(folder / name, staging / name)
    digest = store.publish_compiled(
        version,
        staging,
        {"target": source["target"], "boosters": source["boosters"]},
    )
    return acceleration._record(version, digest, outcome)


def train_tiny(
    frame: pd.DataFrame,
    label: str,
    name: str = "tiny",
    *,
    user=None,
    alias: str | None = "production",
    excluded: list[str] | None = None,
    reuse: bool = True,
    dataset=None,
    sensitive: list[str] | None = None,
) -> ModelVersion:
    """Train a small LightGBM on `frame` and register it as a new version.

    With `reuse`, a predictor fitted earlier in this process on the same
    (frame, label) is copied instead of fitted again; the rows, scores and
    lineage are always computed afresh.
    """
    if excluded is None:
        excluded = [c for c in ("id",) if c in frame.columns and c != label]
    options = TrainOptions(
        label=label,
        time_limit=60,
        excluded=excluded,
        seed=0,
        alias=alias,
        sensitive=list(sensitive or []),
    )
    key = frame_key(frame.drop(columns=excluded), label)
    with _lock:
        cached = _fitted.get(key) if reuse else None
        if cached is not None and not cached.exists():
            cached = None
        copied = cached / store.PREDICTOR if cached else None
        with fitted_from(copied) if copied else contextlib.nullcontext():
            version = train_version(
                frame,
                name=name,
                options=options,
                user=user,
                dataset=dataset,
                hyperparameters=autogluon.FAST_HYPERPARAMETERS,
                num_cpus=1,
            )
        if cached is not None:  # its compiled code too: compiling costs ~1 s
            reuse_compiled(version, cached / store.COMPILED, _compiled[key])
        if cached is None and reuse:
            keep = store.root() / ".tiny-cache" / key[0][:16] / label
            shutil.rmtree(keep, ignore_errors=True)
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(
                store.version_dir(version.model.name, version.number),
                keep,
            )
            _fitted[key] = keep
            _compiled[key] = version.lineage.compiled
    return version


def as_trained(version: ModelVersion) -> autogluon.Predictor:
    """The version's predictor as AutoGluon trained it, loaded apart from the
    registry's cache: no compiled code attached, no shortcut taken."""
    predictor = store.load(version)
    predictor.persist()
    return predictor
