"""The test scaffolding itself: a second tiny model of the same data is
copied, not fitted, and keeps the first one's compiled code."""

import pytest

from registry import store
from registry.tests.helpers import train_tiny

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def test_train_tiny_reuses_the_fit_and_the_compiled_code(penguins_frame):
    first = train_tiny(penguins_frame, "species", "reused")
    second = train_tiny(penguins_frame, "species", "reused")
    assert (first.number, second.number) == (1, 2)
    assert store.predictor_files(second) == store.predictor_files(first)
    assert second.lineage.compiled == first.lineage.compiled
    assert second.compiled_sha256 == first.compiled_sha256
    # Everything after the fit ran on the copy: its own rows and scores.
    assert second.scores == first.scores and second.pk != first.pk
