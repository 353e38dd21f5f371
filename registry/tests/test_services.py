"""resolve, check_schema, predict, preload and the registry actions."""

import threading

import pandas as pd
import pytest

from mlframework.events.models import Event
from registry import services, store
from registry.autogluon.shortcuts import compiled_boosters
from registry.autogluon.shortcuts.boosters import booster_slots
from registry.cache import PredictorCache, predictors
from registry.errors import (
    ModelUnavailable,
    RegistryError,
    SchemaError,
    VersionNotFound,
)
from registry.models import ModelVersion
from registry.tests.helpers import train_tiny

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture(autouse=True)
def _empty_cache():
    predictors.clear()
    yield
    predictors.clear()


def test_resolve_follows_aliases_and_numbers(tiny_classifier):
    assert services.resolve("penguins") == tiny_classifier
    assert services.resolve("penguins", 1) == tiny_classifier
    assert services.resolve("penguins", "v1") == tiny_classifier
    assert services.resolve(tiny_classifier.model, "1") == tiny_classifier


@pytest.mark.parametrize(
    ("model", "ref", "message"),
    [
        ("nope", "production", "There is no model named 'nope'"),
        ("penguins", 7, "Model penguins has no version 7"),
        ("penguins", "staging", "Model penguins has no alias 'staging'"),
    ],
)
def test_resolve_names_what_is_missing(tiny_classifier, model, ref, message):
    with pytest.raises(VersionNotFound, match=message):
        services.resolve(model, ref)
    with pytest.raises(VersionNotFound, match=message):
        services.resolve_current(model, ref)


def test_resolve_current_reuses_the_version_until_it_changes(
    tiny_classifier, penguins_frame, django_assert_num_queries
):
    first = services.resolve_current("penguins", "production")
    assert first == tiny_classifier and first.model.name == "penguins"
    with django_assert_num_queries(2):  # one each, the row is not read again
        assert services.resolve_current("penguins", "production") is first
        assert services.resolve_current("penguins", "v1") is first
    # Another version behind the alias: seen at once.
    second = train_tiny(penguins_frame, "species", "penguins", alias=None)
    services.move_alias(second, "production")
    assert services.resolve_current("penguins", "production") == second
    assert services.resolve_current("penguins", 1) is first
    # A change on the row made elsewhere (another process archiving it).
    ModelVersion.objects.filter(pk=first.pk).update(status="archived")
    archived = services.resolve_current("penguins", 1)
    assert archived is not first and archived.status == "archived"
    with pytest.raises(ModelUnavailable, match="archived"):
        services.predict(archived, penguins_frame.head(1))


def test_check_schema_lists_missing_and_extra(tiny_classifier):
    check = services.check_schema(
        tiny_classifier, ["island", "bill_length_mm", "colour", "species"]
    )
    assert not check.ok
    assert check.missing == [
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "year",
    ]
    assert check.extra == ["colour"]
    assert services.check_schema(tiny_classifier, tiny_classifier.feature_names()).ok


def test_predict_returns_predictions_and_probabilities(tiny_classifier, penguins_frame):
    frame = penguins_frame.sample(40, random_state=3).set_index("id")
    result = services.predict(tiny_classifier, frame, probabilities=True)
    assert list(result.index) == list(frame.index)
    assert list(result.columns) == [
        "prediction",
        "proba_Adelie",
        "proba_Chinstrap",
        "proba_Gentoo",
    ]
    probabilities = result.drop(columns="prediction")
    assert (probabilities.sum(axis=1) - 1).abs().max() < 1e-6
    assert (result["prediction"] == frame["species"]).mean() > 0.85
    # The labels come from the same pass as the probabilities, and agree with
    # a prediction made without them.
    argmax = probabilities.idxmax(axis=1).str.removeprefix("proba_")
    assert list(result["prediction"]) == list(argmax)
    plain = services.predict(tiny_classifier, frame)
    assert list(plain["prediction"]) == list(result["prediction"])


def test_predict_without_probabilities_and_for_regression(
    tiny_regressor, penguins_frame
):
    result = services.predict(
        tiny_regressor, penguins_frame.head(5), probabilities=True
    )
    assert list(result.columns) == ["prediction"]
    assert result["prediction"].between(2500, 6500).all()


def test_predict_ignores_extra_columns_and_order(tiny_classifier, penguins_frame):
    frame = penguins_frame.head(3)[::-1].assign(colour="blue")
    assert len(services.predict(tiny_classifier, frame)) == 3


def test_predict_names_missing_columns(tiny_classifier, penguins_frame):
    with pytest.raises(SchemaError, match="missing from the input: sex, year") as e:
        services.predict(tiny_classifier, penguins_frame.drop(columns=["sex", "year"]))
    assert e.value.missing == ["sex", "year"]


def test_predict_names_columns_of_the_wrong_type(tiny_classifier, penguins_frame):
    frame = penguins_frame.head(3).astype({"bill_length_mm": object})
    frame.loc[frame.index[1], "bill_length_mm"] = "long"
    with pytest.raises(SchemaError, match="bill_length_mm: expected numbers") as e:
        services.predict(tiny_classifier, frame)
    assert list(e.value.wrong_type) == ["bill_length_mm"]


def test_predict_accepts_numbers_as_text(tiny_classifier, penguins_frame):
    # Values read from CSV or SQL as strings still predict.
    frame = penguins_frame.head(4).astype(str).replace({"<NA>": None, "nan": None})
    expected = services.predict(tiny_classifier, penguins_frame.head(4))
    assert services.predict(tiny_classifier, frame).equals(expected)


def test_predict_on_no_rows(tiny_classifier, penguins_frame):
    result = services.predict(
        tiny_classifier, penguins_frame.head(0), probabilities=True
    )
    assert result.empty and "proba_Gentoo" in result.columns


def test_predictions_go_through_one_cached_predictor(tiny_classifier, penguins_frame):
    services.predict(tiny_classifier, penguins_frame.head(2))
    services.predict(tiny_classifier, penguins_frame.head(2))
    assert predictors.loaded_ids() == [tiny_classifier.pk]


def test_predict_is_thread_safe(tiny_classifier, penguins_frame):
    expected = services.predict(tiny_classifier, penguins_frame)
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(services.predict(tiny_classifier, penguins_frame))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 20 and all(r.equals(expected) for r in results)


@pytest.mark.slow
def test_the_cache_is_bounded_least_recently_used(
    tiny_classifier, tiny_regressor, penguins_frame
):
    cache = PredictorCache(size=1)
    cache.get(tiny_classifier)
    cache.get(tiny_regressor)
    assert cache.loaded_ids() == [tiny_regressor.pk]
    assert tiny_classifier not in cache


def test_the_cache_loads_a_cold_version_once_for_many_threads(tiny_classifier):
    cache = PredictorCache(size=2)
    entries = []
    threads = [
        threading.Thread(target=lambda: entries.append(cache.get(tiny_classifier)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(entry) for entry in entries}) == 1


@pytest.mark.slow
def test_preload_loads_the_versions_behind_aliases(tiny_classifier, tiny_regressor):
    assert services.preload(["production"]) == 2
    assert sorted(predictors.loaded_ids()) == sorted(
        [tiny_classifier.pk, tiny_regressor.pk]
    )
    assert services.preload(["staging"]) == 0


@pytest.mark.slow
def test_preload_reports_a_broken_version_and_goes_on(tiny_classifier, tiny_regressor):
    (store.version_dir("penguins", 1) / "manifest.json").unlink()
    assert services.preload(["production"]) == 1
    assert (
        Event.objects.using("events")
        .filter(kind="preload.failed", model_version_id=tiny_classifier.pk)
        .exists()
    )


def test_move_alias(tiny_classifier, penguins_frame, analyst):
    second = train_tiny(penguins_frame, "species", "penguins", alias=None)
    services.move_alias(second, "production", user=analyst)
    assert services.resolve("penguins") == second
    event = Event.objects.using("events").get(kind="alias.moved")
    assert event.message == "penguins@production now points at v2 (was v1)"
    assert event.username == "ana"


def test_an_alias_must_be_moved_before_archiving(tiny_classifier):
    with pytest.raises(RegistryError, match="carries the alias production"):
        services.archive(tiny_classifier)
    assert ModelVersion.objects.get(pk=tiny_classifier.pk).status == "ready"


@pytest.mark.slow
def test_archive_stops_predictions_and_restore_brings_them_back(
    tiny_classifier, penguins_frame
):
    second = train_tiny(penguins_frame, "species", "penguins", alias="production")
    services.predict(tiny_classifier, penguins_frame.head(1))
    services.archive(tiny_classifier)
    assert tiny_classifier.pk not in predictors.loaded_ids()
    with pytest.raises(ModelUnavailable, match="penguins v1 is archived"):
        services.predict(tiny_classifier, penguins_frame.head(1))
    services.restore(tiny_classifier)
    assert len(services.predict(tiny_classifier, penguins_frame.head(1))) == 1
    assert second.status == "ready"


@pytest.mark.slow
def test_delete_removes_files_and_keeps_lineage(tiny_classifier, penguins_frame):
    train_tiny(penguins_frame, "species", "penguins", alias="production")
    services.predict(tiny_classifier, penguins_frame.head(1))
    services.delete(tiny_classifier)
    version = ModelVersion.objects.get(pk=tiny_classifier.pk)
    assert version.status == "deleted" and version.size_bytes == 0
    assert version.lineage.dataset.rows == 344
    assert version.scores["accuracy"] > 0.8
    assert not store.version_dir("penguins", 1).exists()
    assert tiny_classifier.pk not in predictors.loaded_ids()
    with pytest.raises(ModelUnavailable):
        services.predict(version, penguins_frame.head(1))
    with pytest.raises(RegistryError, match="already deleted"):
        services.delete(version)


def test_a_version_deleted_by_another_process_is_dropped_from_the_cache(
    tiny_classifier, penguins_frame
):
    services.predict(tiny_classifier, penguins_frame.head(1))
    store.remove("penguins", 1)  # as another process's delete would
    with pytest.raises(ModelUnavailable, match="no model files"):
        services.predict(tiny_classifier, penguins_frame.head(1))
    assert predictors.loaded_ids() == []


@pytest.mark.slow
def test_prune_keeps_the_best_model_and_a_valid_manifest(penguins_frame):
    from registry import autogluon
    from registry.training import TrainOptions, train_version

    version = train_version(
        penguins_frame,
        name="prunable",
        options=TrainOptions(label="species", excluded=["id"], time_limit=60),
        hyperparameters={
            "GBM": [
                {"num_boost_round": 20},
                {
                    "num_boost_round": 30,
                    "extra_trees": True,
                    "ag_args": {"name_suffix": "XT"},
                },
            ]
        },
        num_cpus=1,
    )
    assert version.lineage.models_trained == 2
    before = version.size_bytes
    deleted = services.prune(version)
    assert len(deleted) == 1
    version.refresh_from_db()
    assert version.size_bytes < before
    assert version.lineage.pruned["deleted_models"] == deleted
    store.verify(version)
    result = services.predict(version, penguins_frame.head(5))
    assert len(result) == 5
    # AutoGluon saved the kept model again: it was compiled again, from it.
    assert version.lineage.compiled["status"] == "compiled"
    entry = predictors.get(version)
    slots = booster_slots(entry.predictor)
    assert [compiled_boosters.is_compiled(slot) for slot in slots] == [True]
    del autogluon


def test_predict_keeps_a_non_default_index(tiny_classifier, penguins_frame):
    frame = penguins_frame.head(3)
    frame.index = pd.Index(["a", "b", "c"])
    assert list(services.predict(tiny_classifier, frame).index) == ["a", "b", "c"]


def test_coerce_gives_the_trained_types_whatever_the_input_types(
    tiny_classifier, penguins_frame
):
    # Typed columns take the fast path, text columns the checked one: the
    # model sees the same frame either way, missing values kept missing.
    frame = penguins_frame.head(6).copy()
    frame.loc[frame.index[0], "island"] = None
    frame.loc[frame.index[1], "bill_length_mm"] = None
    as_text = frame.astype(object)  # numbers as Python objects, as some drivers give
    typed = services._coerce(tiny_classifier, frame)
    checked = services._coerce(tiny_classifier, as_text)
    pd.testing.assert_frame_equal(typed, checked)
    trained = {f.name: f.dtype for f in tiny_classifier.features}
    numeric = [f.name for f in tiny_classifier.features if f.kind == "numeric"]
    assert numeric and all(typed[name].dtype == trained[name] for name in numeric)
    assert typed["island"].iloc[0] is None
    assert typed["island"].iloc[1] == frame["island"].iloc[1]
    assert typed["bill_length_mm"].isna().iloc[1]


def test_integer_features_stay_integers_unless_values_are_missing(
    tiny_classifier, penguins_frame
):
    # year was trained as int64: given integers, or floats (a form's or
    # JSON's 2008.0), it is int64, so AutoGluon's type conversion has nothing
    # to do; with a missing value it is float64, as before. The predictions
    # are the same either way.
    assert {f.name: f.dtype for f in tiny_classifier.features}["year"] == "int64"
    frame = penguins_frame.head(30).copy()
    for year in (frame["year"], frame["year"].astype("int64")):  # Int64, int64
        frame["year"] = year
        assert services._coerce(tiny_classifier, frame)["year"].dtype == "int64"
    as_floats = frame.assign(year=frame["year"].astype("float64"))
    assert services._coerce(tiny_classifier, as_floats)["year"].dtype == "int64"
    halves = frame.assign(year=frame["year"] + 0.5)  # cut as AutoGluon cuts them
    assert services._coerce(tiny_classifier, halves)["year"].tolist() == (
        frame["year"].tolist()
    )
    with_missing = frame.assign(year=frame["year"].astype("Int64"))
    with_missing.loc[with_missing.index[0], "year"] = pd.NA
    assert services._coerce(tiny_classifier, with_missing)["year"].dtype == "float64"
    missing_float = as_floats.copy()
    missing_float.loc[missing_float.index[0], "year"] = float("nan")
    assert services._coerce(tiny_classifier, missing_float)["year"].dtype == "float64"
    for huge in (1e19, float("inf")):
        out_of_range = as_floats.assign(year=huge)
        assert services._coerce(tiny_classifier, out_of_range)["year"].dtype == (
            "float64"
        )
    big = frame.assign(year=frame["year"].astype("uint64"))
    assert services._coerce(tiny_classifier, big)["year"].dtype == "float64"
    plain = services.predict(tiny_classifier, frame, probabilities=True)
    for other in (as_floats, halves):
        pd.testing.assert_frame_equal(
            plain, services.predict(tiny_classifier, other, probabilities=True)
        )
    # What AutoGluon predicts for the same floats, its own type pass included.
    theirs = store.load(tiny_classifier).predict(
        halves.drop(columns=["id", "species"], errors="ignore")
    )
    assert plain["prediction"].tolist() == theirs.tolist()
