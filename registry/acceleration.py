"""A loaded version's speed: compiled LightGBM models, and the shortcuts taken.

After a version is trained (registry.training.train_version, once its analysis
is done) every LightGBM booster its best model predicts with is compiled by
lleaves (registry.compiled) into the version's compiled/ folder, and checked
against LightGBM twice: on rows built to take every branch of its trees, and
through AutoGluon's whole predict on the held-out rows. compiled/compiled.json
lists each file's hash, the model file each booster came from and the CPU and
compiler it was made with; its own hash goes on the row
(ModelVersion.compiled_sha256), as the predictor's manifest hash does.

Every process that loads the version (registry.cache) calls take_shortcuts:
compiled code is used when the files match those hashes, the model files are
the ones it was compiled from and the CPU and compiler are the same;
otherwise it predicts with LightGBM itself. The other shortcuts
(registry.autogluon.shortcuts) are each checked on probe rows built from the
version's features. What each did is an Outcome, kept with the cache entry,
logged, and written on the version's lineage for the version page.
`manage.py compile_models` compiles versions trained before this existed, or
again on another CPU.
"""

from __future__ import annotations

import logging
import os
import socket
import time

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone

from mlframework.events.log import log_event
from registry import compiled as native
from registry import store
from registry.autogluon.shortcuts import (
    ORDER,
    Outcome,
    compiled_boosters,
    fused_features,
    lightgbm_matrix,
    single_member,
    summary,
)
from registry.autogluon.shortcuts.boosters import booster_slots
from registry.contracts import FeatureSchema
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
        slots = booster_slots(predictor)
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
                compiled_boosters.use(slot, code)
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


def take_shortcuts(version: ModelVersion, predictor) -> tuple[Outcome, ...]:
    """Attach every shortcut a loaded, persisted predictor can take, each only
    once checked on probe rows built from the version's features; log what
    each did in one line and return the outcomes, in ORDER."""
    if not settings.CONFIG.inference.shortcuts:
        outcomes = tuple(Outcome.off(name) for name in ORDER)
    else:
        probes = feature_probes(version.features)
        outcomes = (_compiled(version, predictor, probes),)
        dated = [f.name for f in version.features.of_kind("datetime")]
        if not probes and dated:
            # Said plainly on the version page: date features take AutoGluon's path.
            reason = (
                f"date feature(s) {', '.join(dated)}: AutoGluon's own feature "
                "pipeline makes their features"
            )
        elif not probes:
            reason = (
                "a feature of a kind the probe rows cannot fill (not numeric or text)"
            )
        if not probes:
            outcomes += tuple(Outcome.refused(name, reason) for name in ORDER[1:])
        else:
            outcomes += tuple(
                module.attach(predictor, probes)
                for module in (lightgbm_matrix, single_member, fused_features)
            )
    logger.info("%s inference shortcuts: %s", version, summary(outcomes))
    return outcomes


def _compiled(version: ModelVersion, predictor, probes: list) -> Outcome:
    """The compiled boosters, once their files are the ones the row vouches for,
    made on this CPU from these model files."""
    name = compiled_boosters.NAME
    if not settings.CONFIG.training.compiled_inference:
        return Outcome.refused(name, "training.compiled_inference is off")
    if not version.compiled_sha256:
        status = version.lineage.compiled.get("reason")
        return Outcome.refused(name, status or "the version has no compiled code")
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
        files = store.predictor_files(version)
        ready = []
        for entry in manifest.get("boosters") or []:
            if files.get(entry["model_file"]) != entry["model_sha256"]:
                raise native.CompileError(
                    f"{entry['key']} was compiled from another model file"
                )
            code = native.load(folder / entry["text"], folder / entry["object"])
            ready.append(
                compiled_boosters.Compiled(entry["key"], entry["model_file"], code)
            )
    except RegistryError as exc:
        logger.warning("%s predicts with LightGBM itself: %s", version, exc)
        return Outcome.refused(name, str(exc))
    outcome = compiled_boosters.attach(predictor, probes, ready)
    if not outcome.taken:
        logger.warning("%s predicts with LightGBM itself: %s", version, outcome.reason)
    return outcome


def record_outcomes(version: ModelVersion, outcomes: tuple[Outcome, ...]) -> None:
    """The outcomes of the last load on the version's lineage, for the version
    page of processes that did not load it; a failure is logged, never raised
    (the load itself succeeded)."""
    entry = {
        "outcomes": [outcome.as_dict() for outcome in outcomes],
        "at": timezone.now().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    if version.lineage.shortcuts.get("outcomes") == entry["outcomes"]:
        return  # as recorded: every worker of a server loads the same way
    try:
        with transaction.atomic():
            fresh = ModelVersion.objects.select_for_update().get(pk=version.pk)
            fresh.lineage = fresh.lineage.replace(shortcuts=entry)
            fresh.save(update_fields=["lineage"])
    except OperationalError as exc:
        # Workers starting together load together; one of them records.
        logger.info("shortcut outcomes of %s not recorded: %s", version, exc)
    except Exception:
        logger.warning("shortcut outcomes of %s not recorded", version, exc_info=True)


def recorded_outcomes(version: ModelVersion) -> tuple[tuple[Outcome, ...], dict]:
    """The outcomes record_outcomes wrote last, and where and when."""
    entry = version.lineage.shortcuts
    outcomes = tuple(Outcome.from_dict(o) for o in entry.get("outcomes") or [])
    return outcomes, {k: v for k, v in entry.items() if k != "outcomes"}


def feature_probes(features: FeatureSchema) -> list[pd.DataFrame]:
    """probe_frame's rows, and rows with every category, the empty text, an
    unseen category and missing values, with the text columns once as
    objects and once as categoricals (as a dispatch's chunks bring them);
    [] when a feature is of a kind probe_frame cannot fill."""
    base = probe_frame(features)
    if base is None:
        return []
    extra = [None, "", "mlf-unseen-category"]
    rows = max([12] + [len(f.categories) + len(extra) for f in features])
    plain, coded = {}, {}
    for feature in features:
        name = feature.name
        if feature.is_numeric:
            column = base[name]
            plain[name] = coded[name] = pd.Series(
                np.resize(column.to_numpy(), rows), dtype=column.dtype
            )
        else:
            values = list(feature.categories) + extra
            values = np.resize(np.array(values, dtype=object), rows)
            plain[name] = pd.Series(values, dtype=object)
            # Categories in another order than trained, as Arrow's come.
            present = [v for v in dict.fromkeys(values) if v is not None]
            coded[name] = pd.Series(pd.Categorical(values, categories=present[::-1]))
    return [base, pd.DataFrame(plain), pd.DataFrame(coded)]


def probe_frame(features: FeatureSchema) -> pd.DataFrame | None:
    """Rows that visit each feature's range, categories, an unseen category
    and missing values; None when a feature is of a kind it cannot fill."""
    rows = 6
    columns = {}
    for feature in features:
        name, kind = feature.name, feature.kind
        if kind == "numeric":
            low = feature.min if feature.min is not None else 0
            high = feature.max if feature.max is not None else 0
            mean = feature.mean if feature.mean is not None else low
            if feature.dtype == "int64":  # no missing: trained without
                values = [low, high, round(mean), low, high, round(mean)]
                columns[name] = pd.Series(values, dtype="int64")
            else:
                values = [low, high, mean, None, high, low]
                columns[name] = pd.Series(values, dtype="float64")
        elif kind == "categorical":
            seen = list(feature.categories)
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
