"""Shortcut: LightGBM boosters predict with their compiled code (lleaves).

registry.acceleration compiles a version's boosters after training and, on
load, checks the compiled files against the hashes on the version's row and
this machine's CPU; this module puts the code where AutoGluon calls the
booster (the LightGBM model's ``.model``, replaced: private), once on the
probes AutoGluon's answers with it are LightGBM's within the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from registry import compiled as native
from registry.autogluon.adapter import Predictor
from registry.autogluon.shortcuts.boosters import BoosterSlot, booster_slots
from registry.autogluon.shortcuts.outcome import Outcome

NAME = "compiled_boosters"


@dataclass(frozen=True)
class Compiled:
    """Compiled code for one booster, and what it was compiled from."""

    key: str  # BoosterSlot.key
    model_file: str  # BoosterSlot.model_file
    code: Any  # registry.compiled.CompiledBooster


def attach(
    predictor: Predictor, probes: list[pd.DataFrame], compiled: list[Compiled]
) -> Outcome:
    """Predict with `compiled` from now on, once its boosters are the ones the
    best model predicts with and the probes' answers agree."""
    try:
        slots = {slot.key: slot for slot in booster_slots(predictor)}
    except Exception as exc:
        return Outcome.refused(NAME, str(exc))
    if not slots:
        return Outcome.refused(
            NAME, f"{predictor.best_model} predicts with no LightGBM model"
        )
    if sorted(slots) != sorted(entry.key for entry in compiled):
        return Outcome.refused(
            NAME, "the compiled models are not the ones it predicts with"
        )
    for entry in compiled:
        if slots[entry.key].model_file != entry.model_file:
            return Outcome.refused(
                NAME, f"{entry.key} was compiled from another model file"
            )
    before = [_answers(predictor, probe) for probe in probes]
    for entry in compiled:
        slots[entry.key].use(CompiledBooster(slots[entry.key].booster, entry.code))
    for probe, expected in zip(probes, before, strict=True):
        difference = native.largest_difference(expected, _answers(predictor, probe))
        if difference > native.TOLERANCE:
            for slot in slots.values():
                slot.use(slot.booster)
            return Outcome.refused(
                NAME,
                f"AutoGluon's answers on the probes differ by {difference:.3g} "
                "with the compiled code",
            )
    trees = sum(entry.code.num_trees for entry in compiled)
    return Outcome.took(NAME, f"{len(compiled)} booster(s), {trees} trees")


def use(slot: BoosterSlot, code) -> None:
    """Predict with `code` for this slot (registry.acceleration's check at
    compile time, before any probe)."""
    slot.use(CompiledBooster(slot.booster, code))


def is_compiled(slot: BoosterSlot) -> bool:
    """Whether the slot predicts with compiled code, under any other stand-in."""
    model = slot.in_use
    while model is not None:
        if isinstance(model, CompiledBooster):
            return True
        model = getattr(model, "_inner", None)
    return False


def _answers(predictor: Predictor, probe: pd.DataFrame) -> np.ndarray:
    predicted, proba = predictor.predict_both(probe)
    if proba is not None:
        return proba.to_numpy(dtype=np.float64)
    return pd.to_numeric(predicted).to_numpy(dtype=np.float64)


class CompiledBooster:
    """Stands in for a lightgbm.Booster on a persisted model: the predictions
    AutoGluon asks for come from the compiled trees, on the matrix LightGBM
    would make of the frame; everything else is the booster's own."""

    def __init__(self, booster, compiled) -> None:
        self._booster = booster
        self._compiled = compiled

    def predict(self, data, *args, num_threads: int = 0, **kwargs):
        if args or kwargs:  # raw scores, leaves, contributions, iterations
            return self._booster.predict(data, *args, num_threads=num_threads, **kwargs)
        if isinstance(data, pd.DataFrame):
            # LightGBM's own (private) conversion; LightGBM loads only when used.
            from lightgbm.basic import _data_from_pandas

            data = _data_from_pandas(
                data, "auto", "auto", self._booster.pandas_categorical
            )[0]
        return self._compiled.predict(data)

    def __getattr__(self, name):
        return getattr(self._booster, name)

    def __reduce__(self):
        # Saved (never by the platform) as the plain booster it stands for.
        return (
            type(self._booster),
            (None, None, None, self._booster.model_to_string()),
        )
