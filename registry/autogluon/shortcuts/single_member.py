"""Shortcut: a one-member weighted ensemble predicts through its member.

AutoGluon's usual result on small data is a WeightedEnsemble_L2 giving all
its weight to one model; predicting through that model directly saves the
ensemble's per-call work (cost: bench/RESULTS.md, "cheaper predict calls").
The only module that reads an ensemble's weights (AutoGluon's trainer and the
model's private _get_model_weights); the predictions then go through the
public ``model=`` argument.
"""

from __future__ import annotations

import pandas as pd

from registry.autogluon.adapter import Predictor, numpy_frame
from registry.autogluon.shortcuts.outcome import Outcome

NAME = "single_member"


def sole_member(predictor: Predictor) -> tuple[str | None, str]:
    """The one model the best model gives all its weight to, or None and why not."""
    best = predictor.best_model
    try:
        model = predictor.tabular._trainer.load_model(best)
    except Exception as exc:  # AutoGluon changed: no shortcut
        return None, f"AutoGluon's model {best} could not be read: {exc}"
    weights_of = getattr(model, "_get_model_weights", None)
    if weights_of is None:
        return None, f"the best model ({best}) is not a weighted ensemble"
    try:
        weights = weights_of()
    except Exception as exc:
        return None, f"the weights of {best} could not be read: {exc}"
    nonzero = [(name, weight) for name, weight in weights.items() if weight]
    if len(nonzero) == 1 and float(nonzero[0][1]) == 1.0:
        return nonzero[0][0], ""
    shares = ", ".join(f"{name} {float(weight):.2f}" for name, weight in nonzero)
    return None, f"the best model is not a one-member ensemble ({best}: {shares})"


def attach(predictor: Predictor, probes: list[pd.DataFrame]) -> Outcome:
    """Predict with the sole member of a one-member ensemble from now on,
    once on the probes it gives exactly the ensemble's labels (and
    probabilities)."""
    member, why = sole_member(predictor)
    if member is None:
        return Outcome.refused(NAME, why)
    if not probes:
        return Outcome.refused(NAME, "no probe rows to check it on")
    tabular = predictor.tabular
    data = numpy_frame(pd.concat(probes, ignore_index=True))
    classification = predictor.problem_type in ("binary", "multiclass")

    def outputs(model: str | None) -> list:
        labels = tabular.predict(data, model=model)
        if not classification:
            return [labels]
        proba = tabular.predict_proba(data, as_multiclass=True, model=model)
        return [labels, proba]

    try:
        ensemble, alone = outputs(None), outputs(member)
    except Exception as exc:
        return Outcome.refused(NAME, f"{member} could not predict the probes: {exc}")
    if not all(a.equals(b) for a, b in zip(ensemble, alone, strict=True)):
        return Outcome.refused(
            NAME, f"{member} alone does not give the ensemble's answers on the probes"
        )
    predictor.predict_with(member)
    return Outcome.took(NAME, member)
