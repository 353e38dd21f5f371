"""Version references, aliases and the small status logic on the models."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from registry import services
from registry.errors import VersionNotFound
from registry.models import (
    ANALYSIS_STALLED_AFTER,
    Dataset,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    TrainingJob,
    parse_ref,
)
from registry.tests.helpers import train_tiny

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (3, 3),
        ("3", 3),
        ("v3", 3),
        ("V12", 12),
        (" 7 ", 7),
        ("production", "production"),
        ("v", "v"),
        ("vx", "vx"),
        ("version2", "version2"),
        ("3a", "3a"),
        ("-1", "-1"),
        (" staging ", "staging"),
    ],
)
def test_parse_ref_reads_numbers_and_leaves_alias_names(ref, expected):
    assert parse_ref(ref) == expected
    assert type(parse_ref(ref)) is type(expected)


def test_version_for_finds_a_version_by_number_in_each_spelling(tiny_classifier):
    model = tiny_classifier.model
    for ref in (1, "1", "v1", "V1"):
        assert model.version_for(ref) == tiny_classifier


def test_version_for_defaults_to_production(tiny_classifier):
    assert tiny_classifier.model.version_for() == tiny_classifier


def test_version_for_refuses_a_number_the_model_lacks(tiny_classifier):
    with pytest.raises(VersionNotFound, match=r"^Model penguins has no version 9\.$"):
        tiny_classifier.model.version_for("v9")


def test_version_for_refuses_an_alias_the_model_lacks(tiny_classifier):
    with pytest.raises(
        VersionNotFound, match=r"^Model penguins has no alias 'beta'\.$"
    ):
        tiny_classifier.model.version_for("beta")


def test_version_for_does_not_find_another_models_version(
    tiny_classifier, tiny_regressor
):
    assert tiny_regressor.model.version_for(1) == tiny_regressor
    assert tiny_classifier.model.version_for(1) == tiny_classifier
    services.move_alias(tiny_regressor, "staging")
    with pytest.raises(VersionNotFound):
        tiny_classifier.model.version_for("staging")


def test_an_alias_follows_the_version_it_is_moved_to(tiny_classifier, penguins_frame):
    second = train_tiny(penguins_frame, "species", "penguins", alias=None)
    model = tiny_classifier.model
    assert second.number == 2
    assert model.version_for("production") == tiny_classifier
    assert model.latest_version() == second
    services.move_alias(second, "production")
    assert model.version_for("production") == second
    assert tiny_classifier.alias_names() == []
    assert second.alias_names() == ["production"]
    assert str(model.aliases.get(name="production")) == "penguins@production -> v2"


def test_a_model_has_one_alias_of_each_name(tiny_classifier):
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelAlias.objects.create(
            model=tiny_classifier.model, name="production", version=tiny_classifier
        )


def test_a_model_has_one_version_of_each_number(tiny_classifier):
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(
            model=tiny_classifier.model,
            number=1,
            label="species",
            problem_type="multiclass",
            eval_metric="accuracy",
        )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Prod", "-prod", "with space", "x" * 64, "a.b"])
def test_it_refuses_a_model_or_alias_name_that_is_no_slug(tiny_classifier, name):
    with pytest.raises(ValidationError, match="lower-case letters"):
        RegisteredModel(name=name).full_clean()
    with pytest.raises(ValidationError):
        ModelAlias(
            model=tiny_classifier.model, name=name, version=tiny_classifier
        ).full_clean()


def test_latest_version_of_a_model_without_versions_is_none(db):
    assert RegisteredModel.objects.create(name="empty").latest_version() is None


def test_a_classifiers_typical_error_is_none_a_regressors_its_mae(
    tiny_classifier, tiny_regressor
):
    assert tiny_classifier.is_classification
    assert tiny_classifier.typical_error is None
    assert not tiny_regressor.is_classification
    assert tiny_regressor.typical_error == pytest.approx(tiny_regressor.scores["mae"])
    assert tiny_regressor.typical_error > 0


def test_eval_score_is_the_score_of_the_eval_metric(tiny_classifier, tiny_regressor):
    assert tiny_classifier.eval_score == tiny_classifier.scores["accuracy"]
    assert (
        tiny_regressor.eval_score == (tiny_regressor.scores["root_mean_squared_error"])
    )


def test_analysis_stalls_only_while_running_past_its_limit(tiny_classifier):
    version = tiny_classifier
    long_ago = timezone.now() - ANALYSIS_STALLED_AFTER - timedelta(minutes=1)
    version.analysis = ModelVersion.Analysis.RUNNING
    assert not version.analysis_stalled and not version.analysis_can_rerun
    version.created = long_ago
    assert version.analysis_stalled and version.analysis_can_rerun
    version.analysis = ModelVersion.Analysis.DONE
    assert not version.analysis_stalled and not version.analysis_can_rerun
    version.analysis = ModelVersion.Analysis.FAILED
    assert version.analysis_can_rerun
    version.status = ModelVersion.Status.ARCHIVED
    assert not version.is_ready and not version.analysis_can_rerun


def test_a_version_names_its_model_and_number(tiny_classifier):
    assert str(tiny_classifier) == "penguins v1"
    assert tiny_classifier.get_absolute_url().endswith("/penguins/v1/")
    assert tiny_classifier.feature_names() == [f.name for f in tiny_classifier.features]


@pytest.fixture
def dataset(db):
    return Dataset.objects.create(sha256="0" * 64, name="rows.csv", format="csv")


def _job(dataset, **fields):
    fields.setdefault("options", {"label": "species"})
    return TrainingJob.objects.create(dataset=dataset, model_name="queued", **fields)


def test_queue_position_counts_the_jobs_queued_before(dataset):
    first, second, third = _job(dataset), _job(dataset), _job(dataset)
    assert [j.queue_position() for j in (first, second, third)] == [1, 2, 3]
    first.status = TrainingJob.Status.RUNNING
    first.save()
    assert first.queue_position() is None
    assert second.queue_position() == 1 and third.queue_position() == 2


def test_a_job_is_finished_only_when_it_ended(dataset):
    job = _job(dataset, options={"time_limit": "30"})
    assert job.time_limit == 30
    for status in TrainingJob.Status:
        job.status = status
        assert job.is_finished == (
            status
            in (
                TrainingJob.Status.SUCCEEDED,
                TrainingJob.Status.FAILED,
                TrainingJob.Status.CANCELLED,
            )
        )
    assert _job(dataset).time_limit == 0
