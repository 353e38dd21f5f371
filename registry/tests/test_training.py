"""Training with real AutoGluon on the demo penguins (tiny LightGBM)."""

import pandas as pd
import pytest
from django.test import override_settings  # noqa: F401

from mlframework.events.models import Event
from registry import autogluon, store
from registry.errors import TrainingRefused
from registry.models import ModelVersion
from registry.tests.helpers import train_tiny
from registry.training import TrainOptions, plan, split, train_version

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def test_it_trains_a_classifier_with_full_lineage(tiny_classifier, penguins_frame):
    version = tiny_classifier
    assert str(version) == "penguins v1"
    assert version.status == ModelVersion.Status.READY
    assert version.label == "species"
    assert version.problem_type == "multiclass"
    assert version.eval_metric == "accuracy"
    assert version.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert version.feature_names() == [
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "year",
    ]
    features = {f.name: f for f in version.features}
    assert features["island"].kind == "categorical"
    assert features["island"].categories == ("Biscoe", "Dream", "Torgersen")
    assert features["bill_length_mm"].kind == "numeric"
    assert 30 < features["bill_length_mm"].min < features["bill_length_mm"].max
    # Penguins are easy: a tiny LightGBM still separates the species.
    assert version.scores["accuracy"] > 0.85
    for key in ("balanced_accuracy", "f1_macro", "roc_auc"):
        assert 0 < version.scores[key] <= 1
    assert version.typical_error is None and version.is_classification
    lineage = version.lineage
    assert lineage.dataset.rows == len(penguins_frame)
    assert lineage.train_rows + lineage.test_rows == len(penguins_frame)
    assert lineage.test_rows == pytest.approx(0.2 * len(penguins_frame), abs=1)
    assert lineage.libraries["autogluon"] == autogluon.version()
    assert set(lineage.libraries) == {
        "python",
        "autogluon",
        "lightgbm",
        "scikit-learn",
        "pandas",
        "numpy",
    }
    assert lineage.preset == "medium_quality"
    assert lineage.seed == 0
    assert lineage.excluded == ("id",)
    assert lineage.latency_ms > 0 and lineage.rows_per_second > 0
    assert lineage.size_bytes == version.size_bytes > 0
    assert lineage.reference["bill_length_mm"]["histogram"]["counts"]
    assert lineage.reference["island"]["frequencies"]
    assert version.leaderboard and version.leaderboard[0]["model"]
    assert {row["feature"] for row in version.feature_importance} == set(
        version.feature_names()
    )
    matrix = version.evaluation["matrix"]
    assert version.evaluation["type"] == "confusion_matrix"
    assert sum(map(sum, matrix)) == lineage.test_rows
    assert version.aliases.get().name == "production"
    assert store.verify(version).is_dir()


def test_it_trains_a_regressor_with_positive_errors(tiny_regressor):
    version = tiny_regressor
    assert version.problem_type == "regression"
    assert version.eval_metric == "root_mean_squared_error"
    assert version.classes == []
    assert version.scores["root_mean_squared_error"] == pytest.approx(
        version.scores["rmse"], rel=1e-6
    )
    assert 0 < version.scores["mae"] < version.scores["rmse"] < 1000
    assert version.scores["r2"] > 0.5
    assert version.typical_error == version.scores["mae"]
    assert version.evaluation["type"] == "predicted_vs_actual"
    assert all(row["score_test"] > 0 for row in version.leaderboard)


@pytest.mark.slow
def test_it_numbers_versions_and_keeps_production_on_the_first(penguins_frame):
    first = train_tiny(penguins_frame, "species", "numbered", alias=None)
    second = train_tiny(penguins_frame, "species", "numbered", alias=None)
    assert (first.number, second.number) == (1, 2)
    assert first.model.version_for("production") == first
    assert first.model.version_for(2) == second
    third = train_tiny(penguins_frame, "species", "numbered", alias="production")
    assert first.model.version_for("production") == third


def test_it_logs_an_event_for_a_new_version(tiny_classifier):
    event = Event.objects.using("events").get(
        kind="version.created", model_version_id=tiny_classifier.pk
    )
    assert "penguins v1 trained" in event.message


@pytest.mark.slow
def test_it_fits_for_real_without_the_session_cache(penguins_frame, tmp_path):
    log = tmp_path / "fit.log"
    seen = []

    def progress(stage, models):
        seen.append((stage, models))
        return False

    version = train_version(
        penguins_frame,
        name="fresh",
        options=TrainOptions(
            label="sex", excluded=["id"], time_limit=30, eval_metric="log_loss"
        ),
        hyperparameters=autogluon.FAST_HYPERPARAMETERS,
        num_cpus=1,
        progress=progress,
        log_file=log,
    )
    assert version.problem_type == "binary"
    assert version.lineage.inferred_problem_type == "binary"
    assert "two unique" in version.lineage.inference_reason
    assert version.lineage.warnings == ("11 rows without a label are left out.",)
    stages = [stage for stage, _ in seen]
    assert stages[0] == "checking the data"
    assert "fitting LightGBM" in stages
    assert stages[-1] == "saving the version"
    assert seen[-1][1] == 1  # one model trained
    assert "LightGBM" in log.read_text()
    assert set(version.scores) >= {"accuracy", "f1", "roc_auc", "balanced_accuracy"}
    # The eval metric comes from AutoGluon, in its natural sign.
    assert version.eval_metric == "log_loss"
    assert 0 < version.scores["log_loss"] < 1
    assert version.lineage.greater_is_better is False


def test_cancelling_leaves_no_version_and_no_files(penguins_frame):
    def progress(stage, models):
        return stage.startswith("fitting")

    with pytest.raises(Exception, match="cancelled"):
        train_version(
            penguins_frame,
            name="cancelled",
            options=TrainOptions(label="species", excluded=["id"]),
            hyperparameters=autogluon.FAST_HYPERPARAMETERS,
            num_cpus=1,
            progress=progress,
        )
    assert not ModelVersion.objects.filter(model__name="cancelled").exists()
    assert not (store.root() / "cancelled").exists()
    assert not any((store.root() / ".staging").iterdir())


def _options(**kwargs):
    return TrainOptions(**{"label": "species", "excluded": ["id"], **kwargs})


@pytest.mark.parametrize(
    ("change", "options", "message", "field"),
    [
        (None, {"label": "colour"}, "'colour' is not in the file", "label"),
        (lambda f: f.assign(species=None), {}, "empty in every row", "label"),
        (lambda f: f.assign(species="Adelie"), {}, "only one value", "label"),
        (
            lambda f: f.sample(12, random_state=1),
            {},
            "Only 12 rows have a label; at least 20",
            "",
        ),
        (None, {"excluded": ["species"]}, "cannot be excluded", "excluded"),
        (None, {"excluded": ["wings"]}, "not in the file: wings", "excluded"),
        (
            lambda f: f[["species"]],
            {"excluded": []},
            "No feature columns are left",
            "excluded",
        ),
        (None, {"problem_type": "regression"}, "needs a numeric label", "problem_type"),
        (None, {"problem_type": "binary"}, "exactly two label values", "problem_type"),
        (None, {"eval_metric": "r2"}, "r2 does not fit a multiclass", "eval_metric"),
        (None, {"preset": "extreme"}, "Unknown preset 'extreme'", "preset"),
        (None, {"time_limit": 999999}, "between 1 and 3600 seconds", "time_limit"),
    ],
)
def test_it_refuses_bad_data_or_options_before_fitting(
    penguins_frame, change, options, message, field
):
    frame = change(penguins_frame) if change else penguins_frame
    with pytest.raises(TrainingRefused, match=message) as caught:
        plan(frame, _options(**options))
    assert caught.value.field == field


def test_plan_messages_show_plain_values_never_numpy_reprs(penguins_frame):
    frame = penguins_frame.assign(species=0)
    with pytest.raises(TrainingRefused) as caught:
        plan(frame, _options())
    assert str(caught.value) == (
        "The label column 'species' has only one value (0); there is nothing to learn."
    )
    frame = penguins_frame.assign(island=penguins_frame["island"].astype("category"))
    with pytest.raises(TrainingRefused) as caught:
        plan(frame, _options(label="island", problem_type="regression"))
    assert "such as 'Torgersen'" in str(caught.value)
    assert "np." not in str(caught.value)


def test_it_refuses_duplicate_column_names(penguins_frame):
    frame = penguins_frame.copy()
    frame.columns = ["id", "species", "island", "x", "x", "y", "z", "sex", "year"]
    with pytest.raises(TrainingRefused, match="duplicate column names: x"):
        plan(frame, _options())


def test_refusal_happens_before_any_files_or_rows(penguins_frame):
    with pytest.raises(TrainingRefused):
        train_version(
            penguins_frame.assign(species="Adelie"),
            name="refused",
            options=_options(),
        )
    assert not ModelVersion.objects.exists()
    assert not (store.root() / "refused").exists()


def test_it_warns_about_id_like_columns(penguins_frame):
    the_plan = plan(penguins_frame, _options(excluded=[]))
    assert any("'id' looks like an identifier" in w for w in the_plan.warnings)
    assert plan(penguins_frame, _options()).warnings == []


def test_it_explains_the_inferred_problem_type(penguins_frame):
    the_plan = plan(penguins_frame, _options())
    assert the_plan.problem_type == the_plan.inferred_type == "multiclass"
    assert "object" in the_plan.reason and "3 distinct values" in the_plan.reason
    mass = plan(penguins_frame, _options(label="body_mass_g"))
    assert mass.problem_type == "regression"
    assert mass.eval_metric == "root_mean_squared_error"


def test_the_split_is_stratified(penguins_frame):
    train, test = split(penguins_frame, "species", "multiclass", seed=1, holdout=0.2)
    assert len(test) == 69
    share = penguins_frame["species"].value_counts(normalize=True)
    assert (test["species"].value_counts(normalize=True) - share).abs().max() < 0.02
    assert set(train.index).isdisjoint(test.index)


def test_the_regression_split_spreads_the_label(penguins_frame):
    frame = penguins_frame.dropna(subset=["body_mass_g"])
    _train, test = split(frame, "body_mass_g", "regression", seed=1, holdout=0.2)
    assert abs(test["body_mass_g"].median() - frame["body_mass_g"].median()) < 150


def test_numpy_frame_keeps_nullable_columns_for_autogluon(penguins_frame):
    converted = autogluon.numpy_frame(penguins_frame)
    assert converted["year"].dtype == "int64"
    assert converted["body_mass_g"].dtype == "float64"
    assert converted["body_mass_g"].isna().sum() == 2
    strings = autogluon.numpy_frame(pd.DataFrame({"s": pd.array(["a", None])}))
    assert strings["s"].dtype == object


@pytest.mark.slow
def test_families_whose_library_is_missing_are_left_out(penguins_frame, tmp_path):
    """A preset fit tries only the model families the platform installed."""
    from registry import autogluon

    skipped = autogluon.unavailable_model_types()
    log = tmp_path / "fit.log"
    autogluon.fit(
        penguins_frame.drop(columns=["id"]).sample(120, random_state=0),
        label="species",
        path=tmp_path / "predictor",
        preset="medium_quality",
        time_limit=20,
        log_file=log,
    )
    text = log.read_text()
    assert "Fitting model: LightGBM" in text
    assert "Unable to import dependency" not in text
    assert "Skipping this model" not in text
    assert "NN_TORCH" in skipped or "Fitting model: NeuralNetTorch" in text


def test_the_split_cannot_be_rebuilt_without_a_stored_dataset(tiny_classifier):
    from registry.training import stored_split

    tiny_classifier.dataset = None
    with pytest.raises(TrainingRefused, match="not trained from a stored dataset"):
        stored_split(tiny_classifier)


def test_the_split_cannot_be_rebuilt_from_a_dataset_missing_columns(tiny_classifier):
    from registry import datasets
    from registry.training import stored_split

    dataset, _ = datasets.store_upload(
        [b"species,island\nAdelie,Dream\nGentoo,Biscoe\n"], filename="thin.csv"
    )
    tiny_classifier.dataset = dataset
    with pytest.raises(TrainingRefused, match="no longer has the column") as caught:
        stored_split(tiny_classifier)
    named = str(caught.value).split("column(s) ", 1)[1]
    assert "bill_length_mm" in named and "island" not in named


def test_a_drift_reference_that_cannot_be_rebuilt_is_saved_saying_why(
    tiny_classifier,
):
    from registry import drift_reference
    from registry.training import rebuild_drift_reference

    tiny_classifier.dataset = None
    reference = rebuild_drift_reference(tiny_classifier)
    assert reference.state.startswith("no reference: ")
    assert "not trained from a stored dataset" in reference.state
    saved = drift_reference.for_version(tiny_classifier)
    assert saved.state == reference.state
