"""The Showroom's rows reach the model in its trained types."""

import pytest

from registry import autogluon, services
from showroom import schema

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def test_checked_rows_take_the_one_pass_feature_pipeline(
    tiny_classifier, penguin, fresh_predictors, monkeypatch
):
    """A form or JSON may give 2008 as 2008.0 or "2009": the checked rows
    still reach the model as trained, so autogluon.FusedFeatures makes its
    columns, not AutoGluon's ten generators."""
    predictor = fresh_predictors.get(tiny_classifier).predictor
    fused = predictor._predictor._learner.__dict__["transform_features"]
    assert isinstance(fused, autogluon.FusedFeatures)
    calls = []
    ask = fused.fallback
    monkeypatch.setattr(fused, "fallback", lambda data: calls.append(1) or ask(data))
    for rows in (
        [penguin],
        [penguin, {**penguin, "year": "2009", "sex": None}],
        [{**penguin, "year": 2008.0, "bill_length_mm": 47}],
    ):
        checked = schema.check_rows(tiny_classifier.features, rows, prefix="rows")
        assert checked.ok
        services.predict(tiny_classifier, checked.frame, probabilities=True)
    assert calls == []
