"""Fairness on the version page (table, flags, the recompute form), the
compare page, and the sensitive columns of the train form."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from mlframework.core import demo
from registry import datasets, fairness_jobs
from registry.models import ModelVersion, TrainingJob, VersionFairness
from registry.tests.helpers import train_tiny

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def stored_penguins(db):
    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    frame = datasets.read_frame(dataset)
    return train_tiny(frame, "species", "penguins", dataset=dataset)


@pytest.fixture
def loans_version(db, tmp_path):
    """A binary model on 600 synthetic loans (120 held out): group "a" is
    approved far more often than "b"; "c" has too few held-out rows."""
    rng = np.random.default_rng(0)
    n = 600
    group = rng.choice(["a", "b", "c"], n, p=[0.5, 0.32, 0.18])
    income = rng.normal(50, 10, n) + np.where(group == "a", 12, 0)
    approved = np.where(income + rng.normal(0, 4, n) > 55, "yes", "no")
    path = tmp_path / "loans.csv"
    pd.DataFrame(
        {
            "group": group,
            "age": rng.integers(20, 70, n),
            "income": income.round(2),
            "approved": approved,
        }
    ).to_csv(path, index=False)
    dataset, _ = datasets.store_file(path, name="loans")
    frame = datasets.read_frame(dataset)
    return train_tiny(frame, "approved", "loans", dataset=dataset, excluded=["group"])


def _url(version):
    return reverse("registry:fairness", args=[version.model.name, version.number])


def test_the_version_page_shows_the_fairness_table(viewer_client, stored_penguins):
    fairness_jobs.compute(stored_penguins, ["sex", "bill_length_mm"])
    page = viewer_client.get(stored_penguins.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="fairness-table" data-column="sex"' in html
    assert 'data-column="bill_length_mm"' in html
    assert "numeric, in quantile bins" in html
    assert "Disparate impact" in html and "Treatment equality" in html
    assert "Positive class: Adelie" in html  # multiclass: one-vs-rest
    # The two penguins without a recorded sex are too few to measure.
    assert 'data-flag="too-small"' in html and "(missing)" in html
    # Viewers read; only TRAIN holders get the form.
    assert 'data-testid="fairness-form"' not in html


@pytest.mark.slow
def test_a_disparate_impact_below_four_fifths_is_flagged(viewer_client, loans_version):
    row = fairness_jobs.compute(loans_version, ["group", "age"])
    assert row.status == "done", row.error
    html = viewer_client.get(loans_version.get_absolute_url()).content.decode()
    assert 'data-column="group"' in html and 'data-column="age"' in html
    assert "Differences and disparate impact against a (★)." in html
    assert 'data-flag="disparate-impact"' in html  # b is approved far less
    assert 'data-flag="too-small"' in html  # c
    assert 'data-testid="worst-gap"' in html


def test_a_version_without_fairness_says_so(analyst_client, stored_penguins):
    html = analyst_client.get(stored_penguins.get_absolute_url()).content.decode()
    assert "Not measured: no sensitive columns were chosen." in html
    assert 'data-testid="fairness-form"' in html
    assert 'value="island"' in html and 'value="species"' not in html


def test_an_analyst_queues_a_recompute(
    analyst_client, stored_penguins, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = analyst_client.post(
            _url(stored_penguins), {"sensitive": ["sex", "island"]}
        )
    assert response.status_code == 302
    assert response["Location"] == stored_penguins.get_absolute_url()
    row = VersionFairness.objects.get(version=stored_penguins)
    assert row.status == VersionFairness.Status.QUEUED
    assert row.sensitive == ["sex", "island"] and row.requested_by.username == "ana"
    task = DBTaskResult.objects.get(task_path__endswith="compute_version_fairness")
    assert task.args_kwargs["args"] == [stored_penguins.pk]
    page = analyst_client.get(stored_penguins.get_absolute_url()).content.decode()
    assert "is being computed" in page
    # What the worker runs:
    assert fairness_jobs.compute_version_fairness.call(stored_penguins.pk) == "done"
    page = analyst_client.get(stored_penguins.get_absolute_url()).content.decode()
    assert 'data-column="island"' in page


def test_a_second_request_while_one_runs_is_refused(analyst_client, stored_penguins):
    analyst_client.post(_url(stored_penguins), {"sensitive": ["sex"]})
    response = analyst_client.post(
        _url(stored_penguins), {"sensitive": ["island"]}, follow=True
    )
    assert b"already being computed" in response.content
    assert VersionFairness.objects.get().sensitive == ["sex"]


def test_a_viewer_cannot_recompute(viewer_client, stored_penguins):
    response = viewer_client.post(_url(stored_penguins), {"sensitive": ["sex"]})
    assert response.status_code == 403
    assert not VersionFairness.objects.exists()


def test_recompute_needs_login_post_and_csrf(client, analyst, stored_penguins):
    response = client.post(_url(stored_penguins), {"sensitive": ["sex"]})
    assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(analyst)
    assert client.get(_url(stored_penguins)).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(analyst)
    assert strict.post(_url(stored_penguins), {"sensitive": ["sex"]}).status_code == 403
    assert not VersionFairness.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, b"Choose at least one column."),
        ({"sensitive": ["religion"]}, b"religion is not one of the available choices"),
    ],
)
def test_bad_columns_are_refused_with_a_message(
    analyst_client, stored_penguins, data, message
):
    response = analyst_client.post(_url(stored_penguins), data, follow=True)
    assert response.status_code == 200
    assert message in response.content
    assert not VersionFairness.objects.exists()


def test_a_version_without_a_stored_dataset_is_refused(analyst_client, tiny_classifier):
    # Trained from a frame: its held-out rows cannot be rebuilt.
    response = analyst_client.post(
        _url(tiny_classifier), {"sensitive": ["sex"]}, follow=True
    )
    assert b"cannot be rebuilt" in response.content
    assert not VersionFairness.objects.exists()
    html = analyst_client.get(tiny_classifier.get_absolute_url()).content.decode()
    assert 'data-testid="fairness-form"' not in html


def test_a_failed_computation_shows_its_error(viewer_client, stored_penguins):
    VersionFairness.objects.create(
        version=stored_penguins,
        sensitive=["sex"],
        status=VersionFairness.Status.FAILED,
        error="The sensitive column sex is not in the dataset of penguins v1.",
    )
    html = viewer_client.get(stored_penguins.get_absolute_url()).content.decode()
    assert "could not be measured" in html and "is not in the dataset" in html


def test_the_compare_page_shows_both_reports_side_by_side(viewer_client, db):
    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    frame = datasets.read_frame(dataset)
    first = train_tiny(frame, "species", "penguins", dataset=dataset)
    second = train_tiny(frame, "species", "penguins", dataset=dataset, alias=None)
    for version in (first, second):
        fairness_jobs.compute(version, ["sex"])
    url = reverse("registry:compare", args=["penguins"])
    html = viewer_client.get(url, {"a": 2, "b": 1}).content.decode()
    assert html.count('data-column="sex"') == 2 * 3  # two versions, three classes
    assert "Both reports were measured on the same rows." in html
    fairness_jobs.compute(second, ["island"])
    html = viewer_client.get(url, {"a": 2, "b": 1}).content.decode()
    assert "measured on different rows" in html


def test_the_compare_page_without_reports_says_not_measured(
    viewer_client, stored_penguins
):
    url = reverse("registry:compare", args=["penguins"])
    html = viewer_client.get(url, {"a": 1, "b": 1}).content.decode()
    assert html.count("Not measured.") == 2


def test_the_train_form_passes_the_sensitive_columns_to_the_job(analyst_client, db):
    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    url = reverse("registry:train", args=[dataset.pk])
    page = analyst_client.get(url).content.decode()
    assert 'data-testid="sensitive-columns"' in page
    response = analyst_client.post(
        url,
        {
            "model_name": "penguins",
            "label": "species",
            "problem_type": "auto",
            "eval_metric": "",
            "preset": "medium_quality",
            "time_limit": "30",
            "seed": "0",
            "sensitive": ["sex", "island"],
        },
    )
    assert response.status_code == 302
    assert TrainingJob.objects.get().options["sensitive"] == ["sex", "island"]


def test_the_train_form_refuses_the_label_as_sensitive(analyst_client, db):
    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    response = analyst_client.post(
        reverse("registry:train", args=[dataset.pk]),
        {
            "model_name": "penguins",
            "label": "species",
            "problem_type": "auto",
            "preset": "medium_quality",
            "time_limit": "30",
            "seed": "0",
            "sensitive": ["species"],
        },
    )
    assert response.status_code == 400
    assert b"The label column cannot be a sensitive column." in response.content
    assert not TrainingJob.objects.exists()


def test_a_stalled_computation_says_so_and_can_be_requested_again(
    analyst_client, stored_penguins
):
    row = VersionFairness.objects.create(
        version=stored_penguins, sensitive=["sex"], status="running"
    )
    long_ago = timezone.now() - timedelta(hours=2)
    VersionFairness.objects.filter(pk=row.pk).update(updated=long_ago)
    html = analyst_client.get(stored_penguins.get_absolute_url()).content.decode()
    assert "never finished" in html
    response = analyst_client.post(_url(stored_penguins), {"sensitive": ["island"]})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == "queued" and row.sensitive == ["island"]


def test_an_archived_version_is_refused(analyst_client, stored_penguins):
    # Archived as services.archive leaves it (the production alias forbids it).
    ModelVersion.objects.filter(pk=stored_penguins.pk).update(status="archived")
    response = analyst_client.post(
        _url(stored_penguins), {"sensitive": ["sex"]}, follow=True
    )
    assert b"is archived" in response.content
    assert not VersionFairness.objects.exists()
