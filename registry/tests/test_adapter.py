"""The AutoGluon adapter: the metric catalogue, problem-type inference with its
reason, and the Predictor's narrow API on the real tiny models."""

import numpy as np
import pandas as pd
import pytest

from registry import autogluon, store
from registry.errors import AutoGluonError
from registry.tests.helpers import as_trained
from registry.training import TrainOptions, train_version

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def test_every_problem_type_has_its_default_metric_in_its_catalogue():
    assert set(autogluon.METRICS) == set(autogluon.PROBLEM_TYPES)
    assert set(autogluon.DEFAULT_METRIC) == set(autogluon.PROBLEM_TYPES)
    for problem_type, names in autogluon.METRICS.items():
        assert autogluon.DEFAULT_METRIC[problem_type] in names
        assert len(names) == len(set(names))


def test_all_metrics_is_the_sorted_union_of_the_catalogue():
    union = {name for names in autogluon.METRICS.values() for name in names}
    assert sorted(union) == autogluon.ALL_METRICS


def test_every_catalogued_metric_is_one_autogluon_knows_for_its_problem_type():
    from autogluon.core.metrics import get_metric

    for problem_type, names in autogluon.METRICS.items():
        for name in names:
            assert get_metric(name, problem_type).name == name


def test_library_versions_name_python_and_each_library_installed():
    versions = autogluon.library_versions()
    assert set(versions) == {
        "python",
        "autogluon",
        "lightgbm",
        "scikit-learn",
        "pandas",
        "numpy",
    }
    assert versions["pandas"] == pd.__version__
    assert versions["numpy"] == np.__version__
    assert versions["autogluon"] == autogluon.version()
    assert "not installed" not in versions.values()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["yes", "no"] * 10, "binary"),
        ([0, 1] * 10, "binary"),
        (["a", "b", "c"] * 10, "multiclass"),
        ([float(i) + 0.5 for i in range(200)], "regression"),
    ],
)
def test_infer_problem_type_gives_the_type_and_counts_distinct_values(values, expected):
    label = pd.Series(values, name="target")
    problem_type, reason = autogluon.infer_problem_type(label)
    assert problem_type == expected
    distinct = len(set(values))
    assert reason.endswith(f"{distinct} distinct values")


def test_infer_problem_type_reads_autogluons_reason_from_its_log():
    label = pd.Series([float(i) + 0.5 for i in range(200)], name="target")
    _, reason = autogluon.infer_problem_type(label)
    # AutoGluon's own words come first, then the count.
    words, _, count = reason.rpartition("; ")
    assert words and "because" not in words and count == "200 distinct values"


def test_infer_problem_type_restores_autogluons_logger():
    import logging

    logger = logging.getLogger("autogluon.core.utils.utils")
    before = (logger.level, list(logger.handlers))
    autogluon.infer_problem_type(pd.Series(["a", "b"] * 5, name="y"))
    assert (logger.level, list(logger.handlers)) == before


def test_infer_problem_type_ignores_missing_values_in_the_count():
    label = pd.Series(["a", "b", None, "c"] * 5, name="y")
    problem_type, reason = autogluon.infer_problem_type(label)
    assert problem_type == "multiclass"
    assert reason.endswith("3 distinct values")


def test_infer_problem_type_of_a_nullable_column_works_as_numpy():
    label = pd.Series(pd.array([1, 0, None, 1] * 5, dtype="Int64"), name="flag")
    assert autogluon.infer_problem_type(label)[0] == "binary"


def test_infer_problem_type_refuses_an_empty_label_naming_it():
    with pytest.raises(AutoGluonError, match="'empty'"):
        autogluon.infer_problem_type(pd.Series([], dtype=float, name="empty"))


def test_numpy_frame_returns_a_plain_frame_unchanged():
    frame = pd.DataFrame({"x": [1.0, 2.0], "c": pd.Categorical(["a", "b"])})
    assert autogluon.numpy_frame(frame) is frame


def test_numpy_frame_converts_each_nullable_dtype():
    frame = pd.DataFrame(
        {
            "whole": pd.array([1, 2], dtype="Int64"),
            "gappy": pd.array([1, None], dtype="Int64"),
            "real": pd.array([0.5, None], dtype="Float64"),
            "flag": pd.array([True, None], dtype="boolean"),
            "text": pd.array(["a", None], dtype="string"),
            "when": pd.to_datetime(["2024-01-01 12:00"] * 2).tz_localize(
                "Europe/Paris"
            ),
        }
    )
    converted = autogluon.numpy_frame(frame)
    assert converted["whole"].dtype == np.int64
    assert converted["gappy"].dtype == np.float64
    assert np.isnan(converted["gappy"].iloc[1])
    assert converted["real"].dtype == np.float64
    assert converted["flag"].dtype == object and converted["flag"].iloc[0] is True
    assert np.isnan(converted["flag"].iloc[1])
    assert converted["text"].dtype == object and np.isnan(converted["text"].iloc[1])
    # Time zones as UTC wall time, without the zone.
    assert converted["when"].dt.tz is None
    assert converted["when"].iloc[0] == pd.Timestamp("2024-01-01 11:00")
    # The input is left as it was.
    assert frame["whole"].dtype == "Int64"


def test_a_classifier_names_its_classes_as_plain_values(tiny_classifier):
    predictor = as_trained(tiny_classifier)
    assert predictor.problem_type == "multiclass"
    assert predictor.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert all(type(value) is str for value in predictor.classes)
    assert predictor.eval_metric == "accuracy"
    assert predictor.greater_is_better() is True


def test_a_regressor_has_no_classes_and_lower_is_better(tiny_regressor):
    predictor = as_trained(tiny_regressor)
    assert predictor.problem_type == "regression"
    assert predictor.classes == []
    assert predictor.eval_metric == "root_mean_squared_error"
    assert predictor.greater_is_better() is False


def test_best_model_is_one_of_the_predictors_models(tiny_classifier):
    predictor = as_trained(tiny_classifier)
    assert predictor.best_model in predictor.model_names()
    assert predictor.path == store.verify(tiny_classifier)


def _held_out(frame, label):
    rows = frame.drop(columns=["id"]).dropna(subset=[label]).head(60)
    return rows.drop(columns=[label]), rows[label]


def test_eval_score_of_a_classifier_is_accuracy(tiny_classifier, penguins_frame):
    predictor = as_trained(tiny_classifier)
    features, truth = _held_out(penguins_frame, "species")
    predicted, proba = predictor.predict_both(features)
    score = predictor.eval_score(truth, predicted, proba)
    assert score == pytest.approx((predicted.to_numpy() == truth.to_numpy()).mean())
    # Other truths, another score: it is computed, not remembered.
    shifted = {"Adelie": "Gentoo", "Gentoo": "Chinstrap", "Chinstrap": "Adelie"}
    wrong = truth.map(shifted)
    assert predictor.eval_score(wrong, predicted, None) == pytest.approx(
        (predicted.to_numpy() == wrong.to_numpy()).mean()
    )


def test_eval_score_of_a_regressor_is_a_positive_rmse(tiny_regressor, penguins_frame):
    predictor = as_trained(tiny_regressor)
    features, truth = _held_out(penguins_frame, "body_mass_g")
    predicted, proba = predictor.predict_both(features)
    assert proba is None
    score = predictor.eval_score(truth, predicted, None)
    expected = float(np.sqrt(((predicted.to_numpy() - truth.to_numpy()) ** 2).mean()))
    assert score == pytest.approx(expected) and score > 0


def test_predict_refuses_rows_without_features_as_an_autogluon_error(
    tiny_classifier,
):
    predictor = as_trained(tiny_classifier)
    with pytest.raises(AutoGluonError, match="could not predict"):
        predictor.predict(pd.DataFrame({"nothing": [1]}))


def test_leaderboard_lists_every_model_best_first_with_validation_scores(
    tiny_classifier,
):
    predictor = as_trained(tiny_classifier)
    board = predictor.leaderboard()
    assert {row["model"] for row in board} == set(predictor.model_names())
    assert [row["model"] for row in board if row["best"]] == [predictor.best_model]
    assert all(row["score_test"] is None for row in board)
    assert all(0 <= row["score_val"] <= 1 for row in board)
    scores = [row["score_val"] for row in board]
    assert scores == sorted(scores, reverse=True)


def test_leaderboard_with_held_out_rows_scores_each_model_on_them(
    tiny_regressor, penguins_frame
):
    predictor = as_trained(tiny_regressor)
    features, truth = _held_out(penguins_frame, "body_mass_g")
    board = predictor.leaderboard(features, truth)
    best = next(row for row in board if row["model"] == predictor.best_model)
    predicted = predictor.predict(features)
    # Natural sign: RMSE positive, the same as eval_score on the same rows.
    assert best["score_test"] == pytest.approx(
        predictor.eval_score(truth, predicted, None)
    )
    assert best["score_val"] > 0
    tests = [row["score_test"] for row in board]
    assert tests == sorted(tests)  # lowest error first
    assert all(row["stack_level"] >= 1 for row in board)


def test_feature_importance_names_every_feature_with_numbers(
    tiny_classifier, penguins_frame
):
    predictor = as_trained(tiny_classifier)
    rows = penguins_frame.drop(columns=["id"]).dropna(subset=["species"]).head(80)
    table = predictor.feature_importance(rows, time_limit=5)
    features = set(rows.columns) - {"species"}
    assert {row["feature"] for row in table} == features
    assert all(isinstance(row["importance"], float) for row in table)
    # Bill length tells the species apart: it matters more than nothing.
    by_name = {row["feature"]: row["importance"] for row in table}
    assert max(by_name.values()) > 0


def test_feature_importance_without_the_label_is_an_autogluon_error(
    tiny_classifier, penguins_frame
):
    predictor = as_trained(tiny_classifier)
    rows = penguins_frame.drop(columns=["id", "species"]).head(20)
    with pytest.raises(AutoGluonError, match="feature importance"):
        predictor.feature_importance(rows, time_limit=1)


def test_prune_keeps_the_best_model_and_returns_the_deleted(tmp_path, penguins_frame):
    rows = penguins_frame.drop(columns=["id"]).dropna(subset=["species"])
    predictor = autogluon.fit(
        rows,
        label="species",
        path=tmp_path / "fit",
        time_limit=20,
        hyperparameters={
            "GBM": [
                {"num_boost_round": 10, "num_leaves": 4},
                {
                    "num_boost_round": 20,
                    "num_leaves": 8,
                    "ag_args": {"name_suffix": "B"},
                },
            ]
        },
        num_cpus=1,
    )
    before = predictor.model_names()
    assert len(before) == 2
    best = predictor.best_model
    deleted = predictor.prune()
    assert deleted == sorted(set(before) - {best})
    assert predictor.model_names() == [best]
    assert predictor.prune() == []
    assert len(predictor.predict(rows.drop(columns=["species"]).head(3))) == 3


def test_load_of_a_folder_without_a_predictor_is_an_autogluon_error(tmp_path):
    with pytest.raises(AutoGluonError, match="could not load the model"):
        autogluon.load(tmp_path)


def test_a_version_trained_with_each_multiclass_alias_metric_has_its_score(
    penguins_frame,
):
    options = TrainOptions(
        label="species",
        time_limit=30,
        excluded=["id"],
        seed=0,
        eval_metric="roc_auc_ovr_macro",
    )
    version = train_version(
        penguins_frame,
        name="penguins-auc",
        options=options,
        hyperparameters=autogluon.FAST_HYPERPARAMETERS,
        num_cpus=1,
    )
    assert version.eval_metric == "roc_auc_ovr"  # AutoGluon's name for it
    assert version.eval_score is not None and 0.5 < version.eval_score <= 1


def test_the_job_log_has_no_missing_torch_notice(tmp_path, penguins_frame):
    rows = penguins_frame.drop(columns=["id"]).dropna(subset=["species"])
    log = tmp_path / "training.log"
    autogluon.fit(
        rows,
        label="species",
        path=tmp_path / "fit",
        time_limit=20,
        hyperparameters={"GBM": {"num_boost_round": 5, "num_leaves": 4}},
        num_cpus=1,
        log_file=log,
    )
    text = log.read_text()
    assert "LightGBM" in text  # the log is there, with what was trained
    assert "Failed to import torch" not in text
