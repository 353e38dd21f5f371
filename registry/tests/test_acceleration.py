"""Compiled inference: real lleaves on real AutoGluon models, compared with LightGBM."""

import json
import logging
import pickle
from dataclasses import replace

import lightgbm
import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from mlframework.events.models import Event
from registry import acceleration, autogluon, services, store
from registry import compiled as native
from registry.autogluon.shortcuts import compiled_boosters, single_member
from registry.autogluon.shortcuts.boosters import booster_slots
from registry.cache import predictors
from registry.contracts import Feature, FeatureSchema
from registry.models import ModelVersion
from registry.tests.helpers import as_trained, train_tiny
from registry.training import TrainOptions, train_version

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_predictors):
    return fresh_predictors


def _odd_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows off the training data's paths: unseen and missing categories,
    missing and extreme numbers."""
    rows = frame.head(60).copy()
    index = rows.index
    rows.loc[index[:6], "island"] = "Atlantis"
    rows.loc[index[6:12], "island"] = None
    rows.loc[index[12:18], "bill_length_mm"] = np.nan
    rows.loc[index[18:24], "bill_depth_mm"] = 1e12
    rows.loc[index[24:30], "flipper_length_mm"] = -5
    return rows


def _kinds(predictor: autogluon.Predictor) -> list[str]:
    return [
        "compiled" if compiled_boosters.is_compiled(slot) else "lightgbm"
        for slot in booster_slots(predictor)
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("species", "penguins"),  # multiclass
        ("sex", "penguins-sex"),  # binary
        ("body_mass_g", "penguins-mass"),  # regression
    ],
)
def test_trained_versions_predict_with_compiled_trees_equal_to_lightgbm(
    penguins_frame, label, name
):
    version = train_tiny(penguins_frame, label, name)
    outcome = version.lineage.compiled
    assert outcome["status"] == "compiled", outcome
    assert outcome["boosters"] == 1 and outcome["trees"] > 0
    assert outcome["checked_rows"] > 0  # the held-out rows went through it too
    assert 0 <= outcome["largest_difference"] <= native.TOLERANCE
    assert version.compiled_sha256
    folder = store.version_dir(name, version.number) / store.COMPILED
    assert sorted(p.name for p in folder.iterdir()) == [
        "booster-0.o",
        "booster-0.txt",
        "compiled.json",
    ]
    assert (
        Event.objects.using("events")
        .filter(kind="version.compiled", model_version_id=version.pk)
        .exists()
    )

    rows = _odd_rows(penguins_frame.drop(columns=[label]))
    ours = services.predict(version, rows, probabilities=True)
    assert _kinds(predictors.get(version).predictor) == ["compiled"]
    plain = as_trained(version)
    assert _kinds(plain) == ["lightgbm"]
    theirs, proba = plain.predict_both(services._coerce(version, rows))
    if proba is None:
        np.testing.assert_allclose(
            ours["prediction"].to_numpy(float), theirs.to_numpy(float), rtol=1e-12
        )
    else:
        assert ours["prediction"].tolist() == theirs.tolist()
        columns = [f"proba_{label}" for label in version.classes]
        np.testing.assert_allclose(
            ours[columns].to_numpy(), proba.to_numpy(), rtol=0, atol=native.TOLERANCE
        )


def test_changed_compiled_code_is_never_loaded(tiny_classifier, penguins_frame, caplog):
    folder = store.version_dir("penguins", 1) / store.COMPILED
    code = folder / "booster-0.o"
    code.write_bytes(code.read_bytes()[:-4] + b"\x90\x90\x90\x90")
    with caplog.at_level(logging.WARNING, logger="registry.acceleration"):
        result = services.predict(tiny_classifier, penguins_frame.head(5))
    assert len(result) == 5
    assert _kinds(predictors.get(tiny_classifier).predictor) == ["lightgbm"]
    assert "compiled/booster-0.o is missing or was changed" in caplog.text

    # compiled.json rewritten to vouch for the changed file: the row's hash
    # no longer matches it.
    manifest = json.loads((folder / "compiled.json").read_text())
    manifest["files"]["booster-0.o"] = store.file_sha256(code)
    (folder / "compiled.json").write_text(json.dumps(manifest))
    predictors.clear()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="registry.acceleration"):
        services.predict(tiny_classifier, penguins_frame.head(5))
    assert "does not match the one the platform wrote" in caplog.text
    assert _kinds(predictors.get(tiny_classifier).predictor) == ["lightgbm"]


@pytest.mark.slow
def test_code_compiled_for_another_cpu_is_compiled_again_by_the_command(
    tiny_classifier, penguins_frame, monkeypatch, caplog
):
    here = native.target()
    monkeypatch.setattr(native, "target", lambda: {**here, "cpu": "another-cpu"})
    assert acceleration.needs_compiling(tiny_classifier)
    with caplog.at_level(logging.WARNING, logger="registry.acceleration"):
        services.predict(tiny_classifier, penguins_frame.head(3))
    assert "this server is another-cpu" in caplog.text
    assert "compile_models" in caplog.text
    assert _kinds(predictors.get(tiny_classifier).predictor) == ["lightgbm"]

    before = tiny_classifier.compiled_sha256
    output = _call("compile_models", "--missing")
    assert "penguins v1: compiled (1 LightGBM model(s)" in output
    tiny_classifier.refresh_from_db()
    assert tiny_classifier.compiled_sha256 != before
    assert not acceleration.needs_compiling(tiny_classifier)
    services.predict(tiny_classifier, penguins_frame.head(3))
    assert _kinds(predictors.get(tiny_classifier).predictor) == ["compiled"]
    assert _call("compile_models", "--missing") == "nothing to compile\n"


@pytest.mark.slow
def test_a_model_that_does_not_compile_equal_keeps_predicting_with_lightgbm(
    tiny_classifier, penguins_frame, monkeypatch
):
    monkeypatch.setattr(native, "largest_difference", lambda *a: 0.5)
    outcome = acceleration.compile_version(tiny_classifier)
    assert outcome["status"] == "failed"
    assert "differ from LightGBM by 0.5" in outcome["reason"]
    tiny_classifier.refresh_from_db()
    assert tiny_classifier.compiled_sha256 == ""
    assert tiny_classifier.lineage.compiled["status"] == "failed"
    folder = store.version_dir("penguins", 1)
    assert not (folder / store.COMPILED).exists()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    event = Event.objects.using("events").get(kind="version.compile_failed")
    assert event.level == "warning" and "predicts with LightGBM itself" in event.message
    assert len(services.predict(tiny_classifier, penguins_frame.head(4))) == 4
    assert _kinds(predictors.get(tiny_classifier).predictor) == ["lightgbm"]
    # Not compiled again by --missing (it failed); named, it is.
    assert _call("compile_models", "--missing") == "nothing to compile\n"
    monkeypatch.undo()
    assert "compiled" in _call("compile_models", "penguins:1")


def test_an_unexpected_error_while_compiling_is_recorded_not_raised(
    tiny_classifier, monkeypatch
):
    def broken(booster, rows=4096, seed=0):
        raise KeyError("tree_info")

    monkeypatch.setattr(native, "probe_rows", broken)
    outcome = acceleration.compile_version(tiny_classifier)
    assert outcome == {
        "status": "failed",
        "reason": "unexpected error: KeyError: 'tree_info'",
    }
    assert tiny_classifier.compiled_sha256 == ""
    assert not (store.version_dir("penguins", 1) / store.COMPILED).exists()


def test_a_version_without_lightgbm_has_nothing_to_compile(penguins_frame):
    version = train_version(
        penguins_frame,
        name="forest",
        options=TrainOptions(label="species", excluded=["id"], time_limit=60),
        hyperparameters={"RF": {"n_estimators": 10}},
        num_cpus=1,
    )
    outcome = version.lineage.compiled
    assert outcome["status"] == "none"
    assert "predicts with no LightGBM model" in outcome["reason"]
    assert version.compiled_sha256 == ""
    assert len(services.predict(version, penguins_frame.head(3))) == 3


def test_compiled_inference_can_be_turned_off(settings, penguins_frame):
    version = train_tiny(penguins_frame, "species", "penguins")
    assert version.compiled_sha256
    settings.CONFIG = replace(
        settings.CONFIG,
        training=replace(settings.CONFIG.training, compiled_inference=False),
    )
    services.predict(version, penguins_frame.head(2))
    assert _kinds(predictors.get(version).predictor) == ["lightgbm"]
    outcome = acceleration.compile_version(version)
    assert outcome == {"status": "off", "reason": "training.compiled_inference is off"}
    assert version.compiled_sha256 == ""


def test_the_command_refuses_what_it_cannot_find(tiny_classifier):
    with pytest.raises(CommandError, match="--missing or --all"):
        call_command("compile_models")
    with pytest.raises(CommandError, match="MODEL:NUMBER or MODEL@ALIAS"):
        call_command("compile_models", "penguins")
    with pytest.raises(CommandError, match="no-such"):
        call_command("compile_models", "no-such:1")
    assert "penguins v1: compiled" in _call("compile_models", "penguins@production")
    ModelVersion.objects.filter(pk=tiny_classifier.pk).update(status="archived")
    assert _call("compile_models", "--all") == "nothing to compile\n"


def test_bagged_models_compile_child_by_child(tmp_path, penguins_frame):
    """AutoGluon's bagged LightGBM (the best_quality presets) holds one booster
    per fold; each is found, compiled, and predicts as LightGBM does."""
    from autogluon.tabular import TabularPredictor

    frame = penguins_frame.drop(columns=["id"])
    fitted = TabularPredictor(label="species", path=str(tmp_path / "bag"), verbosity=0)
    fitted.fit(
        frame,
        hyperparameters={"GBM": {"num_boost_round": 15, "num_leaves": 7}},
        num_bag_folds=2,
        num_cpus=1,
        fit_weighted_ensemble=False,
    )
    predictor = autogluon.Predictor(fitted)
    predictor.persist()
    slots = booster_slots(predictor)
    assert [slot.key for slot in slots] == [
        "LightGBM_BAG_L1/S1F1",
        "LightGBM_BAG_L1/S1F2",
    ]
    assert all(slot.model_file.endswith("/model.pkl") for slot in slots)
    rows = _odd_rows(penguins_frame.drop(columns=["species"]))
    before = predictor.predict_proba(rows)
    for number, slot in enumerate(slots):
        compiled_boosters.use(
            slot,
            native.compile_booster(
                slot.booster.model_to_string(),
                tmp_path / f"b{number}.txt",
                tmp_path / f"b{number}.o",
            ),
        )
    assert _kinds(predictor) == ["compiled", "compiled"]
    np.testing.assert_allclose(
        predictor.predict_proba(rows).to_numpy(),
        before.to_numpy(),
        atol=native.TOLERANCE,
    )
    # Saved as the plain booster it stands for (the platform never saves it).
    restored = pickle.loads(pickle.dumps(slots[0].owner.model))  # noqa: S301
    assert isinstance(restored, lightgbm.Booster)


def test_probe_rows_take_every_branch_and_catch_wrong_code(tmp_path):
    random = np.random.default_rng(1)
    features = pd.DataFrame(
        {
            "x": random.normal(size=400),
            "y": random.uniform(0, 100, size=400),
            "c": pd.Categorical(random.choice(["a", "b", "c", "d"], size=400)),
        }
    )
    target = features["x"] * 3 + (features["c"] == "b") * 5 + features["y"] / 50
    booster = _booster(features, target, rounds=12)
    rows = native.probe_rows(booster)
    thresholds = set()
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" in node and node["decision_type"] == "<=":
                thresholds.add((node["split_feature"], float(node["threshold"])))
                stack += [node["left_child"], node["right_child"]]
            elif "split_feature" in node:
                stack += [node["left_child"], node["right_child"]]
    assert thresholds
    for feature, threshold in thresholds:
        column = rows[:, feature]
        assert threshold in column
        assert np.nextafter(threshold, np.inf) in column
    assert np.isnan(rows).any(axis=0).all()  # every feature also missing

    code = native.compile_booster(
        booster.model_to_string(), tmp_path / "m.txt", tmp_path / "m.o"
    )
    assert native.largest_difference(booster.predict(rows), code.predict(rows)) <= (
        native.TOLERANCE
    )
    # Code from a different model (one more round) is caught on the same rows.
    other = _booster(features, target, rounds=13)
    wrong = native.compile_booster(
        other.model_to_string(), tmp_path / "w.txt", tmp_path / "w.o"
    )
    assert native.largest_difference(booster.predict(rows), wrong.predict(rows)) > (
        native.TOLERANCE
    )
    # Loaded from its object file, the code answers the same without compiling.
    loaded = native.load(tmp_path / "m.txt", tmp_path / "m.o")
    assert np.array_equal(loaded.predict(rows), code.predict(rows))
    with pytest.raises(native.CompileError, match="expects 3 features"):
        loaded.predict(rows[:, :2])


def _booster(features, target, *, rounds: int) -> lightgbm.Booster:
    return lightgbm.train(
        {
            "objective": "regression",
            "num_leaves": 7,
            "verbose": -1,
            "min_data_per_group": 5,
        },
        lightgbm.Dataset(features, target),
        num_boost_round=rounds,
    )


def _call(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


class _Ensemble:
    def __init__(self, weights):
        self.weights = weights

    def _get_model_weights(self):
        return self.weights


def _with_best_weights(monkeypatch, predictor, weights):
    trainer = predictor._predictor._trainer
    load = trainer.load_model
    best = predictor.best_model
    monkeypatch.setattr(
        trainer,
        "load_model",
        lambda name, *a, **k: (
            _Ensemble(weights) if name == best else load(name, *a, **k)
        ),
    )


def test_a_one_member_ensemble_predicts_through_its_member(
    tiny_classifier, penguins_frame, monkeypatch
):
    predictor = as_trained(tiny_classifier)
    probes = [acceleration.probe_frame(tiny_classifier.features)]
    outcome = single_member.attach(predictor, probes)  # the tiny model is no ensemble
    assert not outcome.taken
    assert outcome.reason == "the best model (LightGBM) is not a weighted ensemble"
    # All the weight on one member: that is the sole member.
    member = predictor.best_model
    _with_best_weights(monkeypatch, predictor, {member: 1.0, "Other": 0.0})
    assert single_member.sole_member(predictor) == (member, "")
    monkeypatch.undo()
    # One whose predictions are the best model's (here the model itself): used.
    monkeypatch.setattr(single_member, "sole_member", lambda p: (member, ""))
    outcome = single_member.attach(predictor, probes)
    assert outcome.taken and outcome.detail == member
    assert predictor.predicting_with == member
    rows = services._coerce(tiny_classifier, penguins_frame.head(20))
    predicted, proba = predictor.predict_both(rows)
    plain, plain_proba = as_trained(tiny_classifier).predict_both(rows)
    assert predicted.equals(plain) and proba.equals(plain_proba)


def test_an_ensemble_is_kept_unless_one_member_gives_the_same_predictions(
    tiny_classifier, monkeypatch
):
    predictor = as_trained(tiny_classifier)
    probes = [acceleration.probe_frame(tiny_classifier.features)]
    member = predictor.best_model
    _with_best_weights(monkeypatch, predictor, {member: 0.5, "Other": 0.5})
    outcome = single_member.attach(predictor, probes)
    assert not outcome.taken
    assert outcome.reason == (
        f"the best model is not a one-member ensemble ({member}: "
        f"{member} 0.50, Other 0.50)"
    )
    monkeypatch.undo()
    monkeypatch.setattr(single_member, "sole_member", lambda p: (member, ""))
    ask = predictor.tabular.predict_proba

    def differs(data, *args, model=None, **kwargs):
        proba = ask(data, *args, model=None, **kwargs)
        return proba + 0.01 if model == member else proba

    monkeypatch.setattr(predictor.tabular, "predict_proba", differs)
    outcome = single_member.attach(predictor, probes)
    assert not outcome.taken
    assert outcome.reason == (
        f"{member} alone does not give the ensemble's answers on the probes"
    )
    assert predictor.predicting_with is None


def test_probe_rows_cover_each_features_range_categories_and_missing(
    tiny_classifier,
):
    probe = acceleration.probe_frame(tiny_classifier.features)
    for feature in tiny_classifier.features:
        column = probe[feature.name]
        if feature.kind == "numeric":
            assert column.min() == feature.min and column.max() == feature.max
            assert str(column.dtype) == feature.dtype
        else:
            assert set(feature.categories) <= set(column)
            assert column.isna().any() and "mlf-unseen-category" in set(column)
    dated = FeatureSchema(
        (*tiny_classifier.features, Feature("when", "datetime64[ns]", "datetime"))
    )
    assert acceleration.probe_frame(dated) is None


@pytest.mark.slow
def test_a_trained_one_member_ensemble_predicts_through_its_member(
    tmp_path, penguins_frame, tiny_classifier
):
    """LightGBM and k-nearest-neighbours on the penguins: AutoGluon's best
    model is WeightedEnsemble_L2 with all its weight on LightGBM."""
    from autogluon.tabular import TabularPredictor

    path = str(tmp_path / "ensemble")
    TabularPredictor(label="species", path=path, verbosity=0).fit(
        penguins_frame.drop(columns=["id"]),
        hyperparameters={"GBM": {}, "KNN": {}},
        num_cpus=1,
    )
    shortcut = autogluon.Predictor(TabularPredictor.load(path))
    through_ensemble = autogluon.Predictor(TabularPredictor.load(path))
    for predictor in (shortcut, through_ensemble):
        predictor.persist()
    assert shortcut.best_model == "WeightedEnsemble_L2"
    assert single_member.sole_member(shortcut) == ("LightGBM", "")
    # Same columns as the tiny classifier: its features describe these rows.
    probes = acceleration.feature_probes(tiny_classifier.features)
    assert single_member.attach(shortcut, probes).detail == "LightGBM"
    assert through_ensemble.predicting_with is None
    rows = services._coerce(
        tiny_classifier, _odd_rows(penguins_frame.drop(columns=["species"]))
    )
    ours, ours_proba = shortcut.predict_both(rows)
    theirs, theirs_proba = through_ensemble.predict_both(rows)
    assert ours.equals(theirs) and ours_proba.equals(theirs_proba)


def test_compiled_code_is_usable_only_on_the_target_it_was_made_for(
    tiny_classifier, monkeypatch
):
    assert acceleration.usable_here(tiny_classifier)
    here = native.target()
    monkeypatch.setattr(native, "target", lambda: {**here, "lleaves": "0.0.1"})
    assert not acceleration.usable_here(tiny_classifier)
    monkeypatch.setattr(native, "target", lambda: here)
    store.remove_compiled(tiny_classifier)
    assert not acceleration.usable_here(tiny_classifier)  # refused, not raised


def test_no_version_but_a_ready_one_needs_compiling(tiny_classifier):
    store.remove_compiled(tiny_classifier)
    assert acceleration.needs_compiling(tiny_classifier)
    tiny_classifier.status = ModelVersion.Status.ARCHIVED
    assert not acceleration.needs_compiling(tiny_classifier)
    tiny_classifier.status = ModelVersion.Status.READY
    for status in ("none", "failed", "off"):
        tiny_classifier.lineage = tiny_classifier.lineage.replace(
            compiled={"status": status}
        )
        assert not acceleration.needs_compiling(tiny_classifier)
