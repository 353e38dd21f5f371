"""The inference shortcuts as one visible layer: outcomes, the pinned
AutoGluon, each refusal, and inference.shortcuts: false."""

import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from django.urls import reverse

from mlframework.core import demo
from registry import acceleration, autogluon, services, store
from registry import compiled as native
from registry.autogluon.shortcuts import ORDER, Outcome, lightgbm_matrix
from registry.autogluon.shortcuts import compiled_boosters as compiled_module
from registry.autogluon.shortcuts.boosters import booster_slots
from registry.autogluon.shortcuts.fused_features import FusedFeatures
from registry.cache import predictors
from registry.tests.helpers import as_trained
from registry.training import TrainOptions, train_version

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_predictors):
    return fresh_predictors


def _outcomes(version) -> dict[str, Outcome]:
    return {outcome.name: outcome for outcome in predictors.get(version).outcomes}


def _assert_taken(version, expected: list[str]) -> dict[str, Outcome]:
    """Every expected shortcut taken; an upgrade that refuses one fails here."""
    outcomes = _outcomes(version)
    assert list(outcomes) == list(ORDER)
    for name in expected:
        outcome = outcomes[name]
        assert outcome.taken, (
            f"AutoGluon {autogluon.version()} refused the {outcome.label} shortcut "
            f"on {version}: {outcome.reason} — an upgrade would lose speed"
        )
    return outcomes


def _rows(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    rows = frame.drop(columns=[label]).head(60).copy()
    rows.loc[rows.index[:5], "island"] = "Atlantis"
    rows.loc[rows.index[5:10], "bill_length_mm"] = np.nan
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("which", ["tiny_classifier", "tiny_regressor"])
def test_the_pinned_autogluon_takes_every_shortcut_on_the_demo_models(which, request):
    version = request.getfixturevalue(which)
    outcomes = _assert_taken(
        version, ["compiled_boosters", "lightgbm_matrix", "fused_features"]
    )
    # One LightGBM, no ensemble: nothing to skip, and it says so.
    assert outcomes["single_member"].reason == (
        "the best model (LightGBM) is not a weighted ensemble"
    )


@pytest.mark.slow
def test_the_pinned_autogluon_takes_every_shortcut_on_the_lgbm_bench_model(db):
    """bench/dispatch.py's "lgbm": one LightGBM with default hyperparameters."""
    version = train_version(
        demo.read_csv(),
        name="bench-lgbm",
        options=TrainOptions(label="species", excluded=["id"], time_limit=60, seed=0),
        hyperparameters={"GBM": {}},
        num_cpus=1,
    )
    _assert_taken(version, ["compiled_boosters", "lightgbm_matrix", "fused_features"])


@pytest.mark.slow
def test_the_pinned_autogluon_takes_every_shortcut_on_the_default_bench_model(db):
    """bench/dispatch.py's "default": the default preset, a short time limit;
    its best model is a WeightedEnsemble_L2 all on one model."""
    version = train_version(
        demo.read_csv(),
        name="bench-default",
        options=TrainOptions(label="species", excluded=["id"], time_limit=60, seed=0),
    )
    outcomes = _assert_taken(version, list(ORDER))
    assert outcomes["single_member"].detail == version.lineage.best_model or (
        outcomes["single_member"].detail.startswith("LightGBM")
    )


def test_outcomes_are_logged_once_per_load_and_kept_on_the_lineage(
    tiny_classifier, penguins_frame, caplog
):
    with caplog.at_level(logging.INFO, logger="registry.acceleration"):
        services.predict(tiny_classifier, penguins_frame.head(3))
        services.predict(tiny_classifier, penguins_frame.head(3))
    lines = [
        r.getMessage()
        for r in caplog.records
        if "inference shortcuts" in r.getMessage()
    ]
    assert lines == [
        "penguins v1 inference shortcuts: compiled boosters — taken (1 booster(s), "
        f"{tiny_classifier.lineage.compiled['trees']} trees); LightGBM matrix — "
        "taken; single-member ensemble — refused: the best model (LightGBM) is not "
        "a weighted ensemble; one-pass features — taken"
    ]
    tiny_classifier.refresh_from_db()
    recorded, source = acceleration.recorded_outcomes(tiny_classifier)
    assert recorded == predictors.get(tiny_classifier).outcomes
    assert source["pid"] and source["host"] and source["at"]


def test_the_version_page_shows_the_outcomes(
    viewer_client, tiny_classifier, penguins_frame
):
    url = reverse("registry:version", args=["penguins", 1])
    assert "not loaded yet" in viewer_client.get(url).content.decode()
    services.predict(tiny_classifier, penguins_frame.head(1))
    page = viewer_client.get(url).content.decode()
    assert "one-pass features — taken" in page
    assert "single-member ensemble — refused: the best model (LightGBM)" in page
    assert "loaded in this process" in page
    predictors.clear()  # as the web process that did not load it sees it
    page = viewer_client.get(url).content.decode()
    assert "one-pass features — taken" in page and "as loaded by process" in page


def test_shortcuts_off_predict_as_autogluon_itself(
    settings, tiny_classifier, penguins_frame
):
    from autogluon.tabular import TabularPredictor

    settings.CONFIG = replace(
        settings.CONFIG, inference=replace(settings.CONFIG.inference, shortcuts=False)
    )
    rows = _rows(penguins_frame, "species")
    ours = services.predict(tiny_classifier, rows, probabilities=True)
    entry = predictors.get(tiny_classifier)
    assert [str(o) for o in entry.outcomes] == [
        "compiled boosters — off (inference.shortcuts)",
        "LightGBM matrix — off (inference.shortcuts)",
        "single-member ensemble — off (inference.shortcuts)",
        "one-pass features — off (inference.shortcuts)",
    ]
    assert all(o.state == "off" for o in entry.outcomes)
    tabular = entry.predictor.tabular
    assert "transform_features" not in tabular._learner.__dict__
    assert [type(s.in_use).__name__ for s in booster_slots(entry.predictor)] == [
        "Booster"
    ]
    folder = store.version_dir("penguins", 1) / store.PREDICTOR
    theirs = TabularPredictor.load(str(folder), verbosity=0).predict_proba(
        autogluon.numpy_frame(services._coerce(tiny_classifier, rows))
    )
    for label in tiny_classifier.classes:
        assert ours[f"proba_{label}"].tolist() == theirs[label].tolist()


def test_a_matrix_unlike_lightgbms_own_is_refused_and_undone(
    tiny_classifier, monkeypatch
):
    predictor = as_trained(tiny_classifier)
    probes = acceleration.feature_probes(tiny_classifier.features)
    build = lightgbm_matrix.lightgbm_matrix

    def off_by_one(data, cats):
        matrix = build(data, cats)
        return None if matrix is None else matrix + 1

    monkeypatch.setattr(lightgbm_matrix, "lightgbm_matrix", off_by_one)
    outcome = lightgbm_matrix.attach(predictor, probes)
    assert outcome == Outcome.refused(
        "lightgbm_matrix",
        "its matrix differs from LightGBM's own conversion on the probes",
    )
    assert [type(s.in_use).__name__ for s in booster_slots(predictor)] == ["Booster"]
    monkeypatch.undo()
    assert lightgbm_matrix.attach(predictor, probes).taken
    kinds = [type(s.in_use).__name__ for s in booster_slots(predictor)]
    assert kinds == ["MatrixInput"]


def test_columns_lightgbm_matrix_does_not_convert_are_refused(
    tiny_classifier, monkeypatch
):
    predictor = as_trained(tiny_classifier)
    probes = acceleration.feature_probes(tiny_classifier.features)
    # As if AutoGluon handed LightGBM a column type it does not know.
    monkeypatch.setattr(lightgbm_matrix, "lightgbm_matrix", lambda data, cats: None)
    outcome = lightgbm_matrix.attach(predictor, probes)
    assert not outcome.taken, outcome
    assert outcome.reason.startswith("LightGBM is given columns it does not convert")


def test_changed_compiled_code_is_refused_with_its_reason(
    tiny_classifier, penguins_frame
):
    folder = store.version_dir("penguins", 1) / store.COMPILED
    code = folder / "booster-0.o"
    code.write_bytes(code.read_bytes()[:-4] + b"\x90\x90\x90\x90")
    outcome = _outcomes(tiny_classifier)["compiled_boosters"]
    assert not outcome.taken
    assert "compiled/booster-0.o is missing or was changed" in outcome.reason
    # The others still checked, and the predictions AutoGluon's own.
    assert _outcomes(tiny_classifier)["fused_features"].taken
    rows = _rows(penguins_frame, "species")
    ours = services.predict(tiny_classifier, rows)
    theirs = as_trained(tiny_classifier).predict(
        services._coerce(tiny_classifier, rows)
    )
    assert ours["prediction"].tolist() == theirs.tolist()


def test_compiled_code_that_answers_otherwise_on_the_probes_is_refused(
    tiny_classifier, monkeypatch
):
    predictor = as_trained(tiny_classifier)
    probes = acceleration.feature_probes(tiny_classifier.features)
    slot = booster_slots(predictor)[0]

    class Wrong:
        num_trees = 1

        def predict(self, matrix):
            return np.full((len(matrix), 3), 1 / 3)

    compiled = [compiled_module.Compiled(slot.key, slot.model_file, Wrong())]
    outcome = compiled_module.attach(predictor, probes, compiled)
    assert not outcome.taken
    assert outcome.reason.startswith("AutoGluon's answers on the probes differ by")
    assert not compiled_module.is_compiled(booster_slots(predictor)[0])
    elsewhere = [compiled_module.Compiled("LightGBMXT", slot.model_file, Wrong())]
    outcome = compiled_module.attach(predictor, probes, elsewhere)
    assert outcome.reason == "the compiled models are not the ones it predicts with"


def test_code_compiled_for_another_cpu_is_refused_with_its_reason(
    tiny_classifier, monkeypatch
):
    here = native.target()
    monkeypatch.setattr(native, "target", lambda: {**here, "cpu": "another-cpu"})
    outcome = _outcomes(tiny_classifier)["compiled_boosters"]
    assert not outcome.taken and "this server is another-cpu" in outcome.reason


def test_a_version_the_probes_cannot_fill_refuses_the_checked_shortcuts(
    tiny_classifier, monkeypatch
):
    monkeypatch.setattr(acceleration, "feature_probes", lambda features: [])
    outcomes = _outcomes(tiny_classifier)
    assert outcomes["compiled_boosters"].taken  # checked when it was compiled
    for name in ("lightgbm_matrix", "single_member", "fused_features"):
        assert outcomes[name].reason.startswith("a feature of a kind the probe rows")


def test_outcomes_read_as_a_sentence_and_round_trip():
    taken = Outcome.took("single_member", "LightGBMXT")
    refused = Outcome.refused("compiled_boosters", "compiled on another CPU")
    assert str(taken) == "single-member ensemble — taken (LightGBMXT)"
    assert str(refused) == "compiled boosters — refused: compiled on another CPU"
    assert str(Outcome.off("fused_features")) == (
        "one-pass features — off (inference.shortcuts)"
    )
    for outcome in (taken, refused, Outcome.off("lightgbm_matrix")):
        assert Outcome.from_dict(outcome.as_dict()) == outcome
    assert isinstance(FusedFeatures, type)


def test_outcomes_already_recorded_are_not_written_again(
    tiny_classifier, django_assert_num_queries
):
    # Every worker of a server loads the same way: one write, not one each.
    outcomes = (Outcome.took("fused_features"), Outcome.refused("single_member", "x"))
    acceleration.record_outcomes(tiny_classifier, outcomes)
    tiny_classifier.refresh_from_db()
    with django_assert_num_queries(0):
        acceleration.record_outcomes(tiny_classifier, outcomes)
    recorded, _ = acceleration.recorded_outcomes(tiny_classifier)
    assert recorded == outcomes
