"""registry/challengers.py: compare, propose, approve, reject, rollback."""

from __future__ import annotations

import pytest

from registry import challengers
from registry.challengers import ChallengeError, PromotionRule
from registry.models import AliasChange, Challenge
from registry.tests.challenger_fixtures import (  # noqa: F401 (fixtures)
    penguins_dataset,
    strong,
    weak,
)

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def production(model) -> int:
    return model.aliases.get(name="production").version.number


def test_a_better_challenger_is_promoted_by_the_rule(weak, strong):
    challenge = challengers.propose(strong, origin="by hand")
    assert challenge.state == Challenge.State.PROMOTED
    assert production(strong.model) == 2
    comparison = challengers.Comparison.from_json(challenge.comparison)
    assert comparison.challenger_score > comparison.champion_score
    print(comparison)
