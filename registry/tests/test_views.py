"""The registry's pages: datasets, upload, train form, jobs, models, actions."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registry import datasets, jobs, store
from registry.models import Dataset, ModelAlias, ModelVersion, TrainingJob
from registry.tests.helpers import train_tiny
from registry.training import TrainOptions

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def penguins_dataset(db):
    from mlframework.core import demo

    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    return dataset


def _csv_upload(data=b"a;b\n1,5;x\n2,5;y\n", name="semi.csv"):
    return SimpleUploadedFile(name, data, content_type="text/csv")


def _train_data(**changes):
    data = {
        "model_name": "penguins",
        "label": "species",
        "problem_type": "auto",
        "eval_metric": "",
        "preset": "medium_quality",
        "time_limit": "30",
        "excluded": [],
        "seed": "0",
    }
    data.update(changes)
    return data


# --- index and datasets -------------------------------------------------------


def test_index_lists_models_and_jobs(viewer_client, tiny_classifier):
    response = viewer_client.get(reverse("registry:index"))
    assert response.status_code == 200
    assert b"penguins" in response.content
    assert b"production" in response.content
    assert b"Upload a dataset" not in response.content  # viewers cannot train


def test_index_shows_train_link_to_analysts(analyst_client):
    response = analyst_client.get(reverse("registry:index"))
    assert b"No model has been trained yet" in response.content
    assert b"Upload a dataset and train" in response.content


def test_pages_need_login(client, penguins_dataset):
    for url in (
        reverse("registry:index"),
        reverse("registry:datasets"),
        reverse("registry:dataset", args=[penguins_dataset.pk]),
        reverse("registry:train", args=[penguins_dataset.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]


def test_users_without_a_role_are_refused(client, nobody, penguins_dataset):
    client.force_login(nobody)
    assert client.get(reverse("registry:index")).status_code == 403
    assert client.get(reverse("registry:datasets")).status_code == 403


def test_upload_stores_and_redirects_to_the_dataset(analyst_client):
    response = analyst_client.post(
        reverse("registry:upload"), {"file": _csv_upload(), "name": "semi"}
    )
    dataset = Dataset.objects.get()
    assert response.status_code == 302
    assert response["Location"] == dataset.get_absolute_url()
    assert dataset.read_options["decimal"] == ","
    assert dataset.created_by.username == "ana"
    page = analyst_client.get(dataset.get_absolute_url())
    assert page.status_code == 200
    assert b"data-histogram" in page.content
    assert b"Train a model on this dataset" in page.content


def test_upload_twice_says_it_exists(analyst_client):
    analyst_client.post(reverse("registry:upload"), {"file": _csv_upload()})
    response = analyst_client.post(
        reverse("registry:upload"), {"file": _csv_upload()}, follow=True
    )
    assert b"This file was uploaded before" in response.content
    assert Dataset.objects.count() == 1


def test_upload_refuses_a_bad_file_with_its_reason(analyst_client):
    response = analyst_client.post(
        reverse("registry:upload"), {"file": _csv_upload(b"a,a\n1,2\n", "dup.csv")}
    )
    assert response.status_code == 400
    assert b"dup.csv has duplicate column names: a" in response.content
    assert not Dataset.objects.exists()
    assert not list(datasets.root().iterdir())


def test_upload_needs_a_file(analyst_client):
    response = analyst_client.post(reverse("registry:upload"), {})
    assert response.status_code == 400 and b"This field is required" in response.content


def test_upload_needs_the_train_permission(viewer_client):
    response = viewer_client.post(reverse("registry:upload"), {"file": _csv_upload()})
    assert response.status_code == 403
    assert not Dataset.objects.exists()


def test_upload_is_post_only(analyst_client):
    assert analyst_client.get(reverse("registry:upload")).status_code == 405


def test_upload_accepts_large_files_streamed_to_disk(analyst_client, settings):
    data = b"x,y\n" + b"1.5,a\n" * 500_000  # 3 MB: over the in-memory threshold
    assert len(data) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    response = analyst_client.post(
        reverse("registry:upload"), {"file": _csv_upload(data, "big.csv")}
    )
    assert response.status_code == 302
    assert Dataset.objects.get().rows == 500_000


def test_dataset_404(viewer_client):
    assert viewer_client.get(reverse("registry:dataset", args=[99])).status_code == 404


# --- train form --------------------------------------------------------------


def test_the_train_form_offers_the_columns(analyst_client, penguins_dataset):
    response = analyst_client.get(reverse("registry:train", args=[penguins_dataset.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert '<option value="species"' in content
    assert 'value="penguins"' in content  # the suggested model name
    assert "medium_quality" in content


def test_the_train_form_queues_a_job(analyst_client, penguins_dataset):
    response = analyst_client.post(
        reverse("registry:train", args=[penguins_dataset.pk]),
        _train_data(excluded=["year"], make_production="on"),
    )
    job = TrainingJob.objects.get()
    assert (
        response.status_code == 302 and response["Location"] == job.get_absolute_url()
    )
    assert job.options["excluded"] == ["year"]
    assert job.options["alias"] == "production"
    assert job.created_by.username == "ana"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"label": "colour"}, "Select a valid choice"),
        ({"problem_type": "regression"}, "Regression needs a numeric label"),
        ({"eval_metric": "r2"}, "r2 does not fit a multiclass problem"),
        ({"excluded": ["species"]}, "The label column cannot be excluded"),
        ({"time_limit": "100000"}, "At most 3600 seconds"),
        ({"model_name": "Bad Name!"}, "lower-case letters"),
        ({"model_name": "datasets"}, "is reserved"),
        (
            {
                "label": "sex",
                "problem_type": "multiclass",
                "excluded": [
                    "species",
                    "island",
                    "bill_length_mm",
                    "bill_depth_mm",
                    "flipper_length_mm",
                    "body_mass_g",
                    "year",
                ],
            },
            "No feature columns are left",
        ),
    ],
)
def test_the_train_form_refuses_with_a_reason(
    analyst_client, penguins_dataset, changes, message
):
    response = analyst_client.post(
        reverse("registry:train", args=[penguins_dataset.pk]), _train_data(**changes)
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not TrainingJob.objects.exists()


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        (b"y,x\n" + b"a,1\n" * 30, "has only one value"),
        (b"y,x\n" + b",1\n" * 30, "empty in every row"),
        (b"y,x\n" + b"a,1\nb,2\n" * 5, "Only 10 rows have a label; at least 20"),
    ],
)
def test_the_train_form_refuses_bad_labels(analyst_client, csv, message):
    dataset, _ = datasets.store_upload([csv], filename="bad.csv")
    response = analyst_client.post(
        reverse("registry:train", args=[dataset.pk]),
        _train_data(label="y", model_name="bad"),
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_the_train_form_refuses_an_unreadable_file(analyst_client, penguins_dataset):
    datasets.path_of(penguins_dataset).write_bytes(b"\x00\x01garbage")
    datasets.path_of(penguins_dataset).unlink()
    response = analyst_client.post(
        reverse("registry:train", args=[penguins_dataset.pk]), _train_data()
    )
    assert response.status_code == 400
    assert b"missing from the server" in response.content
    assert not TrainingJob.objects.exists()


def test_the_train_form_needs_the_train_permission(viewer_client, penguins_dataset):
    url = reverse("registry:train", args=[penguins_dataset.pk])
    assert viewer_client.get(url).status_code == 403
    assert viewer_client.post(url, _train_data()).status_code == 403
    assert not TrainingJob.objects.exists()


def test_the_train_form_refuses_other_methods(analyst_client, penguins_dataset):
    url = reverse("registry:train", args=[penguins_dataset.pk])
    assert analyst_client.put(url).status_code == 405


def test_the_plan_preview_explains_the_problem_type(analyst_client, penguins_dataset):
    url = reverse("registry:plan", args=[penguins_dataset.pk])
    response = analyst_client.get(url, {"label": "species"})
    content = response.content.decode()
    assert "<strong>multiclass</strong>" in content
    assert "inferred by AutoGluon" in content and "3 distinct values" in content
    response = analyst_client.get(url, {"label": "sex", "problem_type": "regression"})
    assert "Regression needs a numeric label" in response.content.decode()
    response = analyst_client.get(url, {})
    assert "Choose a label column" in response.content.decode()


def test_the_plan_preview_warns_about_id_columns(analyst_client, penguins_frame):
    buffer = io.BytesIO()
    penguins_frame.to_csv(buffer, index=False)
    dataset, _ = datasets.store_upload([buffer.getvalue()], filename="with-id.csv")
    url = reverse("registry:plan", args=[dataset.pk])
    content = analyst_client.get(url, {"label": "species"}).content.decode()
    assert "&#x27;id&#x27; looks like an identifier" in content
    content = analyst_client.get(
        url, {"label": "species", "excluded": ["id"]}
    ).content.decode()
    assert "looks like an identifier" not in content


# --- jobs ---------------------------------------------------------------------


def test_the_job_page_shows_queue_position_and_refreshes(
    viewer_client, penguins_dataset
):
    job = jobs.submit(penguins_dataset, "penguins", TrainOptions(label="species"))
    response = viewer_client.get(job.get_absolute_url())
    content = response.content.decode()
    assert "Queue position: <strong>1</strong>" in content
    assert reverse("registry:job_progress", args=[job.pk]) in content
    assert 'hx-trigger="every 2s"' in content
    assert "training.queued" not in content and "queued (job" in content
    partial = viewer_client.get(reverse("registry:job_progress", args=[job.pk]))
    assert partial.status_code == 200
    assert partial.content.decode().lstrip().startswith('<section id="job-progress"')


@pytest.mark.slow
def test_a_finished_job_links_its_version_and_stops_refreshing(
    viewer_client, penguins_dataset
):
    job = jobs.submit(
        penguins_dataset, "penguins", TrainOptions(label="species", fast=True)
    )
    jobs.run(job.pk)
    content = viewer_client.get(job.get_absolute_url()).content.decode()
    assert "every 2s" not in content
    assert 'data-testid="version-link"' in content and "penguins v1" in content
    assert "LightGBM" in content  # the log


def test_cancel_from_the_page(analyst_client, penguins_dataset):
    job = jobs.submit(penguins_dataset, "penguins", TrainOptions(label="species"))
    response = analyst_client.post(reverse("registry:job_cancel", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled"
    again = analyst_client.post(
        reverse("registry:job_cancel", args=[job.pk]), follow=True
    )
    assert b"has already cancelled" in again.content


def test_cancel_needs_permission_and_post(client, viewer, analyst, penguins_dataset):
    job = jobs.submit(penguins_dataset, "penguins", TrainOptions(label="species"))
    url = reverse("registry:job_cancel", args=[job.pk])
    client.force_login(viewer)
    assert client.post(url).status_code == 403
    client.force_login(analyst)
    assert client.get(url).status_code == 405
    job.refresh_from_db()
    assert job.status == "queued"


def test_the_job_list(viewer_client, penguins_dataset):
    jobs.submit(penguins_dataset, "penguins", TrainOptions(label="species"))
    response = viewer_client.get(reverse("registry:jobs"))
    assert response.status_code == 200 and b"penguins (demo)" not in response.content
    assert b">#1</a>" in response.content


# --- models and versions ------------------------------------------------------


def test_the_version_page_shows_lineage_and_charts(viewer_client, tiny_classifier):
    response = viewer_client.get(tiny_classifier.get_absolute_url())
    content = response.content.decode()
    assert response.status_code == 200
    for text in (
        "Predicts <strong>species</strong>",
        'id="leaderboard-data"',
        'id="importance-data"',
        "Confusion matrix",
        "autogluon 1.6.3",
        "lightgbm",
        "scikit-learn",
        "rows/s",
        "Size on disk",
        "bill_length_mm",
        "Biscoe, Dream, Torgersen",
        "chart.umd.min.js",
        "1 LightGBM model (",
        "compiled to native code",
        "held-out rows (largest difference",
    ):
        assert text in content, text
    assert "Archive" not in content  # viewers get no actions


def test_the_regression_version_page_plots_predicted_vs_actual(
    viewer_client, tiny_regressor
):
    content = viewer_client.get(tiny_regressor.get_absolute_url()).content.decode()
    assert 'id="evaluation-chart"' in content and "typical error" in content


@pytest.mark.slow
def test_the_model_page_and_compare(viewer_client, tiny_classifier, penguins_frame):
    train_tiny(penguins_frame, "species", "penguins", alias=None)
    page = viewer_client.get(tiny_classifier.model.get_absolute_url())
    assert b"Compare two versions" in page.content
    response = viewer_client.get(
        reverse("registry:compare", args=["penguins"]), {"a": 2, "b": 1}
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert "Score: accuracy" in content and "Dataset hash" in content
    bad = viewer_client.get(
        reverse("registry:compare", args=["penguins"]), {"a": 9, "b": 1}
    )
    assert (
        bad.status_code == 400 and "penguins has no version 9" in bad.content.decode()
    )


def test_unknown_models_and_versions_are_404(viewer_client, tiny_classifier):
    assert (
        viewer_client.get(reverse("registry:model", args=["nope"])).status_code == 404
    )
    assert (
        viewer_client.get(reverse("registry:version", args=["penguins", 5])).status_code
        == 404
    )


def test_alias_archive_restore_delete_from_the_page(
    analyst_client, tiny_classifier, penguins_frame
):
    second = train_tiny(penguins_frame, "species", "penguins", alias=None)
    url = lambda name, v: reverse(f"registry:{name}", args=["penguins", v.number])  # noqa: E731
    response = analyst_client.post(url("alias", second), {"alias": "production"})
    assert response.status_code == 302
    assert ModelAlias.objects.get(name="production").version == second
    analyst_client.post(url("archive", tiny_classifier))
    tiny_classifier.refresh_from_db()
    assert tiny_classifier.status == "archived"
    analyst_client.post(url("restore", tiny_classifier))
    tiny_classifier.refresh_from_db()
    assert tiny_classifier.status == "ready"
    analyst_client.post(url("delete", tiny_classifier))
    tiny_classifier.refresh_from_db()
    assert tiny_classifier.status == "deleted"
    assert not store.version_dir("penguins", 1).exists()
    page = analyst_client.get(tiny_classifier.get_absolute_url())
    assert b"Deleted" in page.content and b"autogluon" in page.content


def test_an_action_that_is_refused_says_why(analyst_client, tiny_classifier):
    response = analyst_client.post(
        reverse("registry:archive", args=["penguins", 1]), follow=True
    )
    assert b"carries the alias production" in response.content
    tiny_classifier.refresh_from_db()
    assert tiny_classifier.status == "ready"


def test_a_bad_alias_name_is_refused(analyst_client, tiny_classifier):
    response = analyst_client.post(
        reverse("registry:alias", args=["penguins", 1]),
        {"alias": "No Way"},
        follow=True,
    )
    assert b"Alias:" in response.content
    assert list(ModelAlias.objects.values_list("name", flat=True)) == ["production"]


@pytest.mark.slow
@pytest.mark.parametrize("action", ["alias", "archive", "restore", "delete", "prune"])
def test_actions_need_the_train_permission_and_post(
    client, viewer, analyst, tiny_classifier, action
):
    url = reverse(f"registry:{action}", args=["penguins", 1])
    client.force_login(viewer)
    assert client.post(url, {"alias": "staging"}).status_code == 403
    client.force_login(analyst)
    assert client.get(url).status_code == 405
    version = ModelVersion.objects.get(pk=tiny_classifier.pk)
    assert version.status == "ready" and store.verify(version)
    assert ModelAlias.objects.count() == 1


def test_the_version_page_warns_about_another_autogluon(viewer_client, tiny_classifier):
    tiny_classifier.lineage.libraries["autogluon"] = "0.8.2"
    tiny_classifier.save()
    content = viewer_client.get(tiny_classifier.get_absolute_url()).content.decode()
    assert "Trained with AutoGluon 0.8.2; this server runs 1.6.3" in content


def test_an_upload_over_the_limit_is_refused_before_it_is_read(
    analyst_client, settings
):
    from dataclasses import replace

    settings.CONFIG = replace(
        settings.CONFIG, training=replace(settings.CONFIG.training, max_upload_mb=1)
    )
    data = b"x,y\n" + b"1.5,a\n" * 300_000  # 1.8 MB
    response = analyst_client.post(
        reverse("registry:upload"), {"file": _csv_upload(data, "big.csv")}
    )
    assert response.status_code == 413
    assert "larger than the 1 MB upload limit" in response.content.decode()
    assert not Dataset.objects.exists()


def test_queueing_repeats_the_warnings(analyst_client, penguins_frame):
    buffer = io.BytesIO()
    penguins_frame.to_csv(buffer, index=False)
    dataset, _ = datasets.store_upload([buffer.getvalue()], filename="with-id.csv")
    response = analyst_client.post(
        reverse("registry:train", args=[dataset.pk]), _train_data(), follow=True
    )
    content = response.content.decode()
    assert "Training job 1 queued." in content
    assert "looks like an identifier" in content


def test_a_failed_analysis_is_shown_and_can_be_queued_again(
    analyst_client, viewer, tiny_classifier, django_capture_on_commit_callbacks
):
    from django.test import Client

    viewer_client = Client()
    viewer_client.force_login(viewer)
    ModelVersion.objects.filter(pk=tiny_classifier.pk).update(
        analysis="failed", analysis_error="AutoGluon could not score the models: x"
    )
    url = reverse("registry:analyse", args=["penguins", 1])
    page = analyst_client.get(tiny_classifier.get_absolute_url())
    assert b"could not be measured: AutoGluon could not score the models" in (
        page.content
    )
    assert url.encode() in page.content
    assert url.encode() not in viewer_client.get(page.request["PATH_INFO"]).content
    assert viewer_client.post(url).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = analyst_client.post(url, follow=True)
    assert b"queued again" in response.content
    tiny_classifier.refresh_from_db()
    assert tiny_classifier.analysis == "running"
    assert b"being measured" in response.content
    from django_tasks_db.models import DBTaskResult

    task = DBTaskResult.objects.get()
    assert task.args_kwargs["args"] == [tiny_classifier.pk]
    # While it runs, a second request is refused with the reason.
    response = analyst_client.post(url, follow=True)
    assert b"still running" in response.content
    assert DBTaskResult.objects.count() == 1


def test_the_dataset_list_shows_each_dataset_and_the_upload_form_to_trainers(
    viewer_client, analyst, penguins_dataset
):
    response = viewer_client.get(reverse("registry:datasets"))
    assert response.status_code == 200
    assert list(response.context["datasets"]) == [penguins_dataset]
    page = response.content.decode()
    assert penguins_dataset.get_absolute_url() in page
    assert 'name="file"' not in page  # viewers cannot upload
    assert viewer_client.post(reverse("registry:datasets")).status_code == 405
    viewer_client.force_login(analyst)  # the same client, now a trainer
    page = viewer_client.get(reverse("registry:datasets")).content.decode()
    assert 'name="file"' in page


def test_the_job_list_shows_each_job_newest_first(viewer_client, penguins_dataset):
    first, second = (
        TrainingJob.objects.create(
            dataset=penguins_dataset, model_name=name, options={"label": "species"}
        )
        for name in ("first-model", "second-model")
    )
    response = viewer_client.get(reverse("registry:jobs"))
    assert response.status_code == 200
    assert list(response.context["jobs"]) == [second, first]
    page = response.content.decode()
    assert first.get_absolute_url() in page and "second-model" in page
    assert viewer_client.post(reverse("registry:jobs")).status_code == 405


def test_the_job_list_needs_a_role(client, nobody):
    client.force_login(nobody)
    assert client.get(reverse("registry:jobs")).status_code == 403
