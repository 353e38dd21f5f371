"""The speed shortcuts a loaded predictor may take, one module each.

Each module is the only place its AutoGluon or LightGBM internals are
touched, and exposes ``attach(predictor, probes) -> Outcome``: the shortcut
is taken only once it gave exactly AutoGluon's own answers on the probe rows,
and refused with the reason otherwise. registry.acceleration attaches them
in ORDER when registry.cache loads a version.
"""

from registry.autogluon.shortcuts import (
    compiled_boosters,
    fused_features,
    lightgbm_matrix,
    single_member,
)
from registry.autogluon.shortcuts.outcome import LABELS, OFF, Outcome, summary

# Compiled code first: the matrix shortcut then feeds it, and the ensemble and
# feature checks compare answers made as they will be.
ORDER = (
    compiled_boosters.NAME,
    lightgbm_matrix.NAME,
    single_member.NAME,
    fused_features.NAME,
)

__all__ = [
    "LABELS",
    "OFF",
    "ORDER",
    "Outcome",
    "compiled_boosters",
    "fused_features",
    "lightgbm_matrix",
    "single_member",
    "summary",
]
