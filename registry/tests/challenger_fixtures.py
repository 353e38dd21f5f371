"""Two real versions of "penguins" for the challenger tests: a weak one (it
sees only island and sex) and a strong one (every measurement), both with
the demo penguins as their stored dataset, so their held-out rows rebuild."""

from __future__ import annotations

import pytest

from registry import datasets
from registry.models import ModelVersion
from registry.tests.helpers import train_tiny

WEAK_EXCLUDED = ["id", "bill_length_mm", "bill_depth_mm", "flipper_length_mm"]


def with_dataset(version: ModelVersion, dataset) -> ModelVersion:
    version.dataset = dataset
    version.save(update_fields=["dataset"])
    return version


@pytest.fixture
def penguins_dataset(db):
    from mlframework.core import demo

    dataset, _ = datasets.store_file(demo.CSV)
    return dataset


@pytest.fixture
def weak(db, penguins_frame, penguins_dataset):
    """penguins v1, production: predicts species from island and sex only."""
    version = train_tiny(penguins_frame, "species", "penguins", excluded=WEAK_EXCLUDED)
    return with_dataset(version, penguins_dataset)


@pytest.fixture
def strong(weak, penguins_frame, penguins_dataset):
    """penguins v2, no alias: every measurement; better than v1."""
    version = train_tiny(penguins_frame, "species", "penguins", alias=None)
    return with_dataset(version, penguins_dataset)
