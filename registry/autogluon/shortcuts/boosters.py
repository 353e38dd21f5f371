"""Where a predictor's LightGBM boosters are, for the two LightGBM shortcuts.

The only module that walks AutoGluon's trainer and models (private) to find
the lightgbm.Booster each LightGBM model predicts with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry.autogluon.adapter import Predictor
from registry.errors import AutoGluonError


@dataclass
class BoosterSlot:
    """A LightGBM booster inside a persisted predictor, and where it came from."""

    # The AutoGluon model: "LightGBMXT"; a bagged child "LightGBM_BAG_L1/S1F1".
    key: str
    model_file: str  # its pickle, relative to the predictor folder (a manifest key)
    booster: Any  # lightgbm.Booster
    owner: Any  # the AutoGluon model whose .model it is: what a shortcut replaces

    def use(self, stand_in) -> None:
        """Have AutoGluon call `stand_in` where it called the booster."""
        self.owner.model = stand_in

    @property
    def in_use(self):
        return self.owner.model


def booster_slots(predictor: Predictor) -> list[BoosterSlot]:
    """The LightGBM boosters the best model predicts with (after persist())."""
    from autogluon.core.models import BaggedEnsembleModel  # AutoGluon imports slowly
    from autogluon.tabular.models import LGBModel  # (likewise)

    root = predictor.path.resolve()
    slots: list[BoosterSlot] = []

    def visit(model, key: str) -> None:
        if isinstance(model, LGBModel) and model.model is not None:
            # Under a shortcut's stand-in, the booster it stands for.
            booster = getattr(model.model, "_booster", model.model)
            file = Path(model.path).resolve() / model.model_file_name
            slots.append(
                BoosterSlot(key, file.relative_to(root).as_posix(), booster, model)
            )
        elif isinstance(model, BaggedEnsembleModel):
            for child in model.models:
                if not isinstance(child, str):  # persisted children only
                    visit(child, f"{key}/{child.name}")

    trainer = predictor.tabular._trainer
    try:
        for name in trainer.get_minimum_model_set(predictor.best_model):
            model = trainer.models.get(name)
            if model is not None and not isinstance(model, str):
                visit(model, name)
    except Exception as exc:
        raise AutoGluonError(
            f"AutoGluon's models could not be inspected: {exc}"
        ) from exc
    return slots
