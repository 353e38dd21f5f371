"""Real versions of "penguins" for the challenger tests: a weak one (it sees
only island and sex) and a strong one (every measurement), both with the demo
penguins as their stored dataset, so their held-out rows rebuild. Test
modules wrap these in fixtures."""

from __future__ import annotations

from registry import datasets
from registry.models import ModelVersion
from registry.tests.helpers import train_tiny

WEAK_EXCLUDED = ["id", "bill_length_mm", "bill_depth_mm", "flipper_length_mm"]


def penguins_dataset():
    from mlframework.core import demo

    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    return dataset


def with_dataset(version: ModelVersion, dataset) -> ModelVersion:
    version.dataset = dataset
    version.save(update_fields=["dataset"])
    return version


def train_weak(frame, dataset, alias: str | None = "production") -> ModelVersion:
    """Predicts species from island and sex only (about 0.78 accuracy)."""
    version = train_tiny(
        frame, "species", "penguins", excluded=WEAK_EXCLUDED, alias=alias
    )
    return with_dataset(version, dataset)


def train_strong(frame, dataset, alias: str | None = None) -> ModelVersion:
    """Every measurement (about 0.97 accuracy)."""
    version = train_tiny(frame, "species", "penguins", alias=alias)
    return with_dataset(version, dataset)
