"""AutoGluon's feature pipeline made in one pass (shortcuts.fused_features)."""

import numpy as np
import pandas as pd
import pytest

from registry import acceleration, autogluon, services
from registry.autogluon.shortcuts import fused_features
from registry.autogluon.shortcuts.fused_features import FusedFeatures, Refused
from registry.cache import predictors
from registry.contracts import Feature, FeatureSchema
from registry.tests.helpers import as_trained

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_predictors):
    return fresh_predictors


def _fused(predictor: autogluon.Predictor):
    return predictor._predictor._learner.__dict__.get("transform_features")


def _odd_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Unseen, missing and empty text, missing and extreme numbers."""
    rows = frame.head(80).copy()
    index = rows.index
    rows.loc[index[:6], "island"] = "Atlantis"
    rows.loc[index[6:12], "island"] = None
    rows.loc[index[12:18], "sex"] = ""
    rows.loc[index[18:24], "sex"] = None
    rows.loc[index[24:30], "bill_length_mm"] = np.nan
    rows.loc[index[30:36], "bill_depth_mm"] = 1e12
    rows.index = rows.index * 7 + 3  # not 0..n-1: the index is kept
    return rows


def _as_categoricals(rows: pd.DataFrame) -> pd.DataFrame:
    """Text columns as a dispatch's chunks bring them: categoricals whose
    categories come in order of appearance, not as trained."""
    coded = rows.copy()
    for name in ("island", "sex", "species"):
        if name in coded and coded[name].dtype == object:
            present = [v for v in dict.fromkeys(coded[name]) if isinstance(v, str)]
            coded[name] = pd.Categorical(coded[name], categories=present)
    return coded


@pytest.mark.slow
@pytest.mark.parametrize("which", ["tiny_classifier", "tiny_regressor"])
def test_loaded_versions_make_autogluons_columns_in_one_pass(
    which, request, penguins_frame
):
    version = request.getfixturevalue(which)
    fused = _fused(predictors.get(version).predictor)
    assert isinstance(fused, FusedFeatures)
    rows = _odd_rows(penguins_frame.drop(columns=[version.label]))
    for given in (rows, _as_categoricals(rows), rows.head(1)):
        features = autogluon.numpy_frame(services._coerce(version, given))
        pd.testing.assert_frame_equal(
            fused(features), fused.fallback(features), check_exact=True
        )
    # And the predictions are AutoGluon's own, text given either way.
    theirs, theirs_proba = as_trained(version).predict_both(
        services._coerce(version, rows)
    )
    for given in (rows, _as_categoricals(rows)):
        ours = services.predict(version, given, probabilities=True)
        assert ours["prediction"].tolist() == theirs.tolist()
        if theirs_proba is not None:
            for label in version.classes:
                assert ours[f"proba_{label}"].tolist() == theirs_proba[label].tolist()


def test_columns_not_of_the_trained_types_go_through_autogluon(
    tiny_classifier, penguins_frame, monkeypatch
):
    fused = _fused(predictors.get(tiny_classifier).predictor)
    rows = services._coerce(tiny_classifier, penguins_frame.head(30))
    calls = []
    ask = fused.fallback
    monkeypatch.setattr(fused, "fallback", lambda data: calls.append(1) or ask(data))
    fused(rows)
    assert calls == []
    # Floats as float32, text as categoricals of numbers: AutoGluon's pass.
    odd = rows.astype({"bill_length_mm": "float32"})
    assert fused(odd).equals(ask(odd)) and calls == [1]
    numbered = rows.assign(island=pd.Categorical(rows["island"].factorize()[0]))
    assert fused(numbered).equals(ask(numbered)) and calls == [1, 1]
    # A missing column: AutoGluon's own error.
    with pytest.raises(KeyError, match="island"):
        fused(rows.drop(columns=["island"]))
    assert calls == [1, 1, 1]


def test_a_pipeline_with_a_generator_it_does_not_know_is_left_to_autogluon(
    tiny_classifier,
):
    from autogluon.features.generators import (
        CategoryFeatureGenerator,
        IdentityFeatureGenerator,
    )

    probes = acceleration.feature_probes(tiny_classifier.features)
    predictor = as_trained(tiny_classifier)
    learner = predictor._predictor._learner
    assert isinstance(FusedFeatures.build(learner), FusedFeatures)
    stages = learner.feature_generators[0].generators
    generators = [generator for stage in stages for generator in stage]

    class Custom(IdentityFeatureGenerator):
        pass

    identity = next(g for g in generators if type(g) is IdentityFeatureGenerator)
    identity.__class__ = Custom
    outcome = fused_features.attach(predictor, probes)
    assert not outcome.taken
    assert outcome.reason == (
        "AutoGluon's pipeline has a generator FusedFeatures does not know: Custom"
    )
    assert _fused(predictor) is None
    identity.__class__ = IdentityFeatureGenerator
    # Missing categories filled with the most frequent one: not done here.
    category = next(g for g in generators if type(g) is CategoryFeatureGenerator)
    category._fillna_map = {"island": "Biscoe"}
    with pytest.raises(Refused, match="fills missing categories"):
        FusedFeatures.build(learner)


def test_a_fused_pass_that_differs_on_the_probes_is_not_used(
    tiny_classifier, monkeypatch
):
    probes = acceleration.feature_probes(tiny_classifier.features)
    call = FusedFeatures.__call__

    def off_by_one_code(self, data):
        frame = call(self, data)
        if isinstance(data["island"].dtype, pd.CategoricalDtype):  # one probe only
            codes = frame["island"].cat.codes.to_numpy().copy()
            codes[0] = (codes[0] + 1) % len(frame["island"].cat.categories)
            frame["island"] = pd.Categorical.from_codes(
                codes, dtype=frame["island"].dtype
            )
        return frame

    monkeypatch.setattr(FusedFeatures, "__call__", off_by_one_code)
    predictor = as_trained(tiny_classifier)
    outcome = fused_features.attach(predictor, probes)
    assert not outcome.taken
    assert outcome.reason.startswith("its frame differs from AutoGluon's on probe 3")
    assert _fused(predictor) is None
    monkeypatch.undo()
    assert fused_features.attach(predictor, probes).taken
    assert isinstance(_fused(predictor), FusedFeatures)


def test_feature_probes_give_text_as_objects_and_as_categoricals(tiny_classifier):
    base, plain, coded = acceleration.feature_probes(tiny_classifier.features)
    assert base.equals(acceleration.probe_frame(tiny_classifier.features))
    for feature in tiny_classifier.features:
        name = feature.name
        if feature.kind == "numeric":
            assert str(plain[name].dtype) == str(coded[name].dtype) == feature.dtype
            continue
        values = set(plain[name].dropna())
        assert set(feature.categories) | {"", "mlf-unseen-category"} <= values
        assert plain[name].isna().any() and coded[name].isna().any()
        categories = list(coded[name].cat.categories)
        assert set(categories) == values
        assert categories != sorted(categories)  # not the trained order
    dated = FeatureSchema(
        (*tiny_classifier.features, Feature("when", "datetime64[ns]", "datetime"))
    )
    assert acceleration.feature_probes(dated) == []


def test_a_pipeline_it_cannot_read_is_logged_and_left_to_autogluon(
    tiny_classifier, monkeypatch, caplog
):
    learner = as_trained(tiny_classifier)._predictor._learner

    def changed(*args):
        raise AttributeError("'FillNaFeatureGenerator' has no '_fillna_feature_map'")

    monkeypatch.setattr(fused_features, "_fill_step", changed)
    logger = "registry.autogluon.shortcuts.fused_features"
    refused = pytest.raises(Refused, match="could not be read: AttributeError")
    with caplog.at_level("WARNING", logger=logger), refused:
        FusedFeatures.build(learner)
    assert "feature pipeline not read" in caplog.text
