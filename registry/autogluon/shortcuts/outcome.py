"""What a shortcut did when a predictor was loaded: taken, or why not."""

from __future__ import annotations

from dataclasses import dataclass

# The reason of every outcome when config.yaml switches the shortcuts off.
OFF = "off (inference.shortcuts)"

LABELS = {
    "compiled_boosters": "compiled boosters",
    "lightgbm_matrix": "LightGBM matrix",
    "single_member": "single-member ensemble",
    "fused_features": "one-pass features",
}


@dataclass(frozen=True)
class Outcome:
    name: str  # a key of LABELS: the shortcut's module
    taken: bool
    reason: str = ""  # why it was refused (empty when taken)
    detail: str = ""  # what it took, e.g. the member predicted with

    @classmethod
    def took(cls, name: str, detail: str = "") -> Outcome:
        return cls(name, True, "", detail)

    @classmethod
    def refused(cls, name: str, reason: str) -> Outcome:
        return cls(name, False, reason)

    @classmethod
    def off(cls, name: str) -> Outcome:
        return cls(name, False, OFF)

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)

    @property
    def state(self) -> str:
        """ "taken", "off" or "refused"."""
        if self.taken:
            return "taken"
        return "off" if self.reason == OFF else "refused"

    def __str__(self) -> str:
        if self.taken:
            return f"{self.label} — taken" + (
                f" ({self.detail})" if self.detail else ""
            )
        if self.state == "off":
            return f"{self.label} — {OFF}"
        return f"{self.label} — refused: {self.reason}"

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "taken": self.taken,
            "reason": self.reason,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Outcome:
        return cls(
            str(data.get("name", "")),
            bool(data.get("taken")),
            str(data.get("reason", "")),
            str(data.get("detail", "")),
        )


def summary(outcomes: tuple[Outcome, ...] | list[Outcome]) -> str:
    """One line for the log and the version page: "a — taken; b — refused: ..."."""
    return "; ".join(str(outcome) for outcome in outcomes)
