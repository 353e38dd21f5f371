"""Compiled inference: a version's LightGBM models compiled to native code.

After a version is trained (registry.training.train_version, once its analysis
is done) every LightGBM booster its best model predicts with is compiled by
lleaves (registry.compiled) into the version's compiled/ folder, and checked
against LightGBM twice: on rows built to take every branch of its trees, and
through AutoGluon's whole predict on the held-out rows. compiled/compiled.json
lists each file's hash, the model file each booster came from and the CPU and
compiler it was made with; its own hash goes on the row
(ModelVersion.compiled_sha256), as the predictor's manifest hash does.

Every process that loads the version (registry.cache) predicts with the
compiled code when the files match those hashes, the model files are the
ones it was compiled from and the CPU and compiler are the same; otherwise it
predicts with LightGBM itself and logs why. `manage.py compile_models`
compiles versions trained before this existed, or again on another CPU.
"""

from __future__ import annotations

import json
import logging
import shutil
import time

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction

from mlframework.events.log import log_event
from registry import compiled as native
from registry import store
from registry.errors import RegistryError
from registry.models import ModelVersion

SOURCE = "registry"
logger = logging.getLogger(__name__)


def compile_version(version: ModelVersion, sample: pd.DataFrame | None = None) -> dict:
    """Compile the version's LightGBM boosters; record and return the outcome.

    `sample`: rows with the model's features (the held-out rows) to compare
    AutoGluon's predictions with and without the compiled code. Never raises
    for a model that cannot be compiled: the version keeps predicting with
    LightGBM, and the reason is recorded (lineage["compiled"], an event).
    """
    if not settings.CONFIG.training.compiled_inference:
        return _record(
            version,
            "",
            {"status": "off", "reason": "training.compiled_inference is off"},
        )
    started = time.monotonic()
    try:
        predictor = store.load(version)
        predictor.persist()
        slots = predictor.lightgbm_boosters()
        if not slots:
            return _record(
                version,
                "",
                {
                    "status": "none",
                    "reason": f"{predictor.best_model} predicts with no LightGBM model",
                },
            )
        before = _predictions(predictor, sample)
        files = store.predictor_files(version)
        staging = store.compiled_staging(version)
        try:
            boosters, worst = [], 0.0
            for number, slot in enumerate(slots):
                stem = f"booster-{number}"
                code = native.compile_booster(
                    slot.booster.model_to_string(),
                    staging / f"{stem}.txt",
                    staging / f"{stem}.o",
                )
                rows = native.probe_rows(slot.booster)
                difference = native.largest_difference(
                    slot.booster.predict(rows), code.predict(rows)
                )
                if difference > native.TOLERANCE:
                    raise native.CompileError(
                        f"{slot.key}: the compiled trees differ from LightGBM by "
                        f"{difference:.3g} on rows through every branch"
                    )
                worst = max(worst, difference)
                slot.use(code)
                boosters.append(
                    {
                        "key": slot.key,
                        "model_file": slot.model_file,
                        "model_sha256": files.get(slot.model_file, ""),
                        "text": f"{stem}.txt",
                        "object": f"{stem}.o",
                        "trees": code.num_trees,
                    }
                )
            if before is not None:
                difference = native.largest_difference(
                    before, _predictions(predictor, sample)
                )
                if difference > native.TOLERANCE:
                    raise native.CompileError(
                        "AutoGluon's predictions on the held-out rows differ by "
                        f"{difference:.3g} with the compiled trees"
                    )
                worst = max(worst, difference)
            digest = store.publish_compiled(
                version, staging, {"target": native.target(), "boosters": boosters}
            )
        except BaseException:
            store.discard(staging)
            raise
    except RegistryError as exc:
        return _record(version, "", {"status": "failed", "reason": str(exc)})
    except Exception as exc:  # a version stays usable whatever went wrong here
        logger.exception("compiling %s failed unexpectedly", version)
        reason = f"unexpected error: {type(exc).__name__}: {exc}"
        return _record(version, "", {"status": "failed", "reason": reason})
    return _record(
        version,
        digest,
        {
            "status": "compiled",
            "boosters": len(boosters),
            "trees": sum(entry["trees"] for entry in boosters),
            "largest_difference": worst,
            "checked_rows": len(sample) if sample is not None else 0,
            "seconds": round(time.monotonic() - started, 3),
        },
    )


def _predictions(predictor, sample: pd.DataFrame | None) -> np.ndarray | None:
    if sample is None or sample.empty:
        return None
    predicted, proba = predictor.predict_both(sample)
    if proba is not None:
        return proba.to_numpy(dtype=np.float64)
    return pd.to_numeric(predicted).to_numpy(dtype=np.float64)


def _record(version: ModelVersion, digest: str, outcome: dict) -> dict:
    if not digest:
        store.remove_compiled(version)
    folder = store.version_dir(version.model.name, version.number)
    with transaction.atomic():
        fresh = ModelVersion.objects.select_for_update().get(pk=version.pk)
        fresh.size_bytes = store.size_bytes(folder)  # the compiled files too
        fresh.lineage = fresh.lineage.replace(
            compiled=outcome, size_bytes=fresh.size_bytes
        )
        fresh.compiled_sha256 = digest
        fresh.save(update_fields=["lineage", "compiled_sha256", "size_bytes"])
    version.lineage, version.compiled_sha256 = fresh.lineage, digest
    version.size_bytes = fresh.size_bytes
    if outcome["status"] == "compiled":
        log_event(
            SOURCE,
            "version.compiled",
            f"{version}: {outcome['boosters']} LightGBM model(s), "
            f"{outcome['trees']} trees, compiled to native code in "
            f"{outcome['seconds']:.1f} s (largest difference from LightGBM "
            f"{outcome['largest_difference']:.2g})",
            model_version=version,
            data=outcome,
        )
    elif outcome["status"] == "failed":
        log_event(
            SOURCE,
            "version.compile_failed",
            f"{version} predicts with LightGBM itself: {outcome['reason']}",
            level="warning",
            model_version=version,
            data=outcome,
        )
    return outcome


def attach(version: ModelVersion, predictor) -> int:
    """Have a loaded, persisted predictor predict with the version's compiled
    boosters; return how many. 0 (and a log line saying why) when there are
    none or they cannot be used here."""
    if not version.compiled_sha256 or not settings.CONFIG.training.compiled_inference:
        return 0
    try:
        folder, manifest = store.verify_compiled(version)
        here = native.target()
        made = manifest.get("target") or {}
        if made != here:
            raise native.CompileError(
                f"compiled for {made.get('cpu')} with lleaves {made.get('lleaves')} "
                f"and llvmlite {made.get('llvmlite')}; this server is "
                f"{here['cpu']} with {here['lleaves']} and {here['llvmlite']} "
                "(run manage.py compile_models to compile again)"
            )
        slots = {slot.key: slot for slot in predictor.lightgbm_boosters()}
        files = store.predictor_files(version)
        entries = manifest.get("boosters") or []
        if sorted(slots) != sorted(entry["key"] for entry in entries):
            raise native.CompileError(
                "the compiled models are not the ones it predicts with"
            )
        ready = []
        for entry in entries:
            slot = slots[entry["key"]]
            if (
                slot.model_file != entry["model_file"]
                or files.get(slot.model_file) != entry["model_sha256"]
            ):
                raise native.CompileError(
                    f"{entry['key']} was compiled from another model file"
                )
            ready.append(
                (slot, native.load(folder / entry["text"], folder / entry["object"]))
            )
    except RegistryError as exc:
        logger.warning("%s predicts with LightGBM itself: %s", version, exc)
        return 0
    for slot, code in ready:
        slot.use(code)
    return len(ready)


def take_shortcuts(version: ModelVersion, predictor) -> None:
    """The per-call shortcuts a loaded predictor takes, each only once checked
    to give exactly AutoGluon's results on probe rows built from the
    version's features (feature_probes): a best model that is a one-member
    weighted ensemble predicts through that member, and the feature pipeline
    runs in one pass (autogluon.FusedFeatures). A version with features the
    probes cannot fill (dates, text) takes neither."""
    probes = feature_probes(version.features.to_json())
    if not probes:
        return
    base, plain, _ = probes
    predictor.skip_single_member_ensemble(pd.concat([base, plain], ignore_index=True))
    predictor.fuse_features(probes)


def feature_probes(features: list[dict]) -> list[pd.DataFrame]:
    """probe_frame's rows, and rows with every category, the empty text, an
    unseen category and missing values, with the text columns once as
    objects and once as categoricals (as a dispatch's chunks bring them);
    [] when a feature is of a kind probe_frame cannot fill."""
    base = probe_frame(features)
    if base is None:
        return []
    extra = [None, "", "mlf-unseen-category"]
    rows = max([12] + [len(f.get("categories") or []) + len(extra) for f in features])
    plain, coded = {}, {}
    for feature in features:
        name = feature["name"]
        if feature.get("kind") == "numeric":
            column = base[name]
            plain[name] = coded[name] = pd.Series(
                np.resize(column.to_numpy(), rows), dtype=column.dtype
            )
        else:
            values = list(feature.get("categories") or []) + extra
            values = np.resize(np.array(values, dtype=object), rows)
            plain[name] = pd.Series(values, dtype=object)
            # Categories in another order than trained, as Arrow's come.
            present = [v for v in dict.fromkeys(values) if v is not None]
            coded[name] = pd.Series(pd.Categorical(values, categories=present[::-1]))
    return [base, pd.DataFrame(plain), pd.DataFrame(coded)]


def probe_frame(features: list[dict]) -> pd.DataFrame | None:
    """Rows that visit each feature's range, categories, an unseen category
    and missing values; None when a feature is of a kind it cannot fill."""
    rows = 6
    columns = {}
    for feature in features:
        name, kind = feature["name"], feature.get("kind")
        if kind == "numeric":
            low, high = feature.get("min", 0), feature.get("max", 0)
            mean = feature.get("mean", low)
            if feature.get("dtype") == "int64":  # no missing: trained without
                values = [low, high, round(mean), low, high, round(mean)]
                columns[name] = pd.Series(values, dtype="int64")
            else:
                values = [low, high, mean, None, high, low]
                columns[name] = pd.Series(values, dtype="float64")
        elif kind == "categorical":
            seen = list(feature.get("categories") or [])
            values = (seen + [None, "mlf-unseen-category"] * rows)[:rows]
            columns[name] = pd.Series(values, dtype=object)
        else:
            return None
    return pd.DataFrame(columns)


def usable_here(version: ModelVersion) -> bool:
    """Whether the version has compiled code this server can use."""
    try:
        _, manifest = store.verify_compiled(version)
    except RegistryError:
        return False
    return manifest.get("target") == native.target()


def needs_compiling(version: ModelVersion) -> bool:
    """Never compiled (trained before compiling existed), or compiled for
    another CPU or compiler; not a model found to have nothing to compile or
    one that failed (compile those again by naming them)."""
    if version.status != ModelVersion.Status.READY:
        return False
    status = version.lineage.compiled.get("status")
    if status in ("none", "failed", "off"):
        return False
    return not usable_here(version)


def reuse_compiled(version: ModelVersion, folder, outcome: dict) -> dict:
    """Record the compiled boosters (`folder`, and their `outcome`) of another
    version fitted from the same model files, instead of compiling them
    again (registry.testing reuses one fit across tests). Compiles when the
    model files or the CPU are not the same."""
    if outcome.get("status") != "compiled":
        return compile_version(version)
    source = json.loads((folder / store.COMPILED_MANIFEST).read_text())
    files = store.predictor_files(version)
    same = source.get("target") == native.target() and all(
        files.get(entry["model_file"]) == entry["model_sha256"]
        for entry in source.get("boosters") or []
    )
    if not same:
        return compile_version(version)
    staging = store.compiled_staging(version)
    for name in source["files"]:
        shutil.copy2(folder / name, staging / name)
    digest = store.publish_compiled(
        version,
        staging,
        {"target": source["target"], "boosters": source["boosters"]},
    )
    return _record(version, digest, outcome)
