"""The predictor cache: one loaded predictor per version and files, bounded,
and the shortcut report the version page shows."""

import os

import pytest

from registry import acceleration, cache
from registry.cache import PredictorCache
from registry.models import ModelVersion
from registry.tests.helpers import train_tiny

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_predictors):
    return fresh_predictors


def test_a_version_is_loaded_once_and_then_served_from_memory(tiny_classifier):
    predictors = PredictorCache(size=2)
    assert (
        tiny_classifier not in predictors and predictors.peek(tiny_classifier) is None
    )
    first = predictors.get(tiny_classifier)
    assert predictors.get(tiny_classifier) is first
    assert predictors.peek(tiny_classifier) is first
    assert tiny_classifier in predictors and len(predictors) == 1
    assert predictors.loaded_ids() == [tiny_classifier.pk]
    assert first.predictor.problem_type == "multiclass"
    assert [o.name for o in first.outcomes] == list(acceleration.ORDER)


@pytest.mark.slow
def test_the_least_recently_used_version_leaves_first(
    tiny_classifier, tiny_regressor, penguins_frame
):
    third = train_tiny(penguins_frame, "species", "penguins-3")
    predictors = PredictorCache(size=2)
    predictors.get(tiny_classifier)
    predictors.get(tiny_regressor)
    predictors.get(tiny_classifier)  # used again: now the most recent
    predictors.get(third)
    assert predictors.loaded_ids() == [tiny_classifier.pk, third.pk]
    assert tiny_regressor not in predictors


def test_changed_files_are_loaded_again_not_served_stale(tiny_classifier):
    predictors = PredictorCache(size=2)
    first = predictors.get(tiny_classifier)
    tiny_classifier.compiled_sha256 = ""  # as after removing compiled code
    assert tiny_classifier not in predictors
    again = predictors.get(tiny_classifier)
    assert again is not first
    assert len(predictors) == 1  # the old entry of the same version is gone


@pytest.mark.slow
def test_drop_and_clear(tiny_classifier, tiny_regressor):
    predictors = PredictorCache(size=3)
    predictors.get(tiny_classifier)
    predictors.get(tiny_regressor)
    assert predictors.drop(tiny_classifier.pk) is True
    assert predictors.drop(tiny_classifier.pk) is False
    assert predictors.loaded_ids() == [tiny_regressor.pk]
    predictors.clear()
    assert len(predictors) == 0


def test_the_size_comes_from_the_config_unless_given(settings):
    from dataclasses import replace

    settings.CONFIG = replace(
        settings.CONFIG, showroom=replace(settings.CONFIG.showroom, cache_size=7)
    )
    assert PredictorCache().size == 7
    assert PredictorCache(size=2).size == 2
    settings.CONFIG = replace(
        settings.CONFIG, showroom=replace(settings.CONFIG.showroom, cache_size=0)
    )
    assert PredictorCache().size == 1  # never zero: it would load on every call


def test_the_shortcut_report_of_a_loaded_version_is_this_processes(
    tiny_classifier, fresh_predictors
):
    entry = fresh_predictors.get(tiny_classifier)
    report = cache.shortcut_report(tiny_classifier)
    assert report.where == "loaded in this process"
    assert report.outcomes == entry.outcomes


def test_the_shortcut_report_of_an_unloaded_version_is_the_recorded_one(
    tiny_classifier, fresh_predictors
):
    outcomes = fresh_predictors.get(tiny_classifier).outcomes
    fresh_predictors.clear()
    version = ModelVersion.objects.get(pk=tiny_classifier.pk)
    report = cache.shortcut_report(version)
    assert report.outcomes == outcomes
    assert report.where.startswith(f"as loaded by process {os.getpid()} on ")


def test_the_shortcut_report_of_a_never_loaded_version_is_empty(tiny_regressor):
    version = ModelVersion.objects.get(pk=tiny_regressor.pk)
    version.lineage = version.lineage.replace(shortcuts={})
    report = cache.shortcut_report(version)
    assert report.outcomes == () and report.where == ""
