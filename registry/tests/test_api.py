"""The JSON API with token authentication, and its OpenAPI schema."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from mlframework.core import demo
from registry import datasets, jobs
from registry.models import Dataset, TrainingJob

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def _client(user=None):
    client = APIClient()
    if user is not None:
        token = Token.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def _upload(client, data=None, name="penguins.csv"):
    data = data if data is not None else demo.CSV.read_bytes()
    return client.post(
        "/api/registry/datasets/",
        {"file": SimpleUploadedFile(name, data), "name": "penguins"},
        format="multipart",
    )


def _train(client, dataset_id, **changes):
    body = {"dataset": dataset_id, "model_name": "penguins", "label": "species"}
    body.update(changes)
    return client.post("/api/registry/jobs/", body, format="json")


@pytest.mark.slow
def test_the_upload_train_status_query_flow(analyst):
    client = _client(analyst)
    uploaded = _upload(client)
    assert uploaded.status_code == 201, uploaded.json()
    dataset = uploaded.json()
    assert dataset["rows"] == 344 and len(dataset["sha256"]) == 64
    assert {c["name"] for c in dataset["columns"]} >= {"species", "island"}
    assert _upload(client).status_code == 200  # the same file: the same dataset

    queued = _train(client, dataset["id"], time_limit=30, excluded=["year"])
    assert queued.status_code == 202, queued.json()
    job = queued.json()
    assert job["status"] == "queued" and job["queue_position"] == 1
    assert job["options"]["excluded"] == ["year"]

    TrainingJob.objects.filter(pk=job["id"]).update(
        options={**job["options"], "fast": True}
    )
    jobs.run(job["id"])
    status = client.get(f"/api/registry/jobs/{job['id']}/").json()
    assert status["status"] == "succeeded"
    assert status["version"] == {"model": "penguins", "number": 1}

    models = client.get("/api/registry/models/").json()
    assert models == [
        {
            "name": "penguins",
            "description": "",
            "aliases": {"production": 1},
            "versions": [1],
            "created": models[0]["created"],
        }
    ]
    versions = client.get("/api/registry/models/penguins/versions/").json()
    assert versions[0]["number"] == 1 and versions[0]["aliases"] == ["production"]
    detail = client.get("/api/registry/models/penguins/versions/production/").json()
    assert detail["number"] == 1
    assert detail["lineage"]["dataset"]["sha256"] == dataset["sha256"]
    assert detail["analysis"] == "done" and detail["feature_importance"]
    assert "year" not in [f["name"] for f in detail["features"]]
    assert detail["created_by"] == "ana"
    assert client.get("/api/registry/models/penguins/versions/1/").json() == detail


def test_refusals_are_json_with_field_messages(analyst):
    client = _client(analyst)
    dataset = _upload(client).json()
    response = _train(client, dataset["id"], label="colour")
    assert response.status_code == 400
    assert response.json() == {
        "error": "The request has invalid fields.",
        "fields": {"label": ["The label column 'colour' is not in the file."]},
    }
    response = _train(client, dataset["id"], problem_type="regression")
    assert "needs a numeric label" in response.json()["fields"]["problem_type"][0]
    response = _train(client, 999)
    assert response.json()["fields"]["dataset"] == ["There is no dataset 999."]
    response = _train(client, dataset["id"], model_name="Not OK")
    assert "model_name" in response.json()["fields"]
    assert not TrainingJob.objects.exists()


def test_a_bad_upload_is_refused_with_its_reason(analyst):
    response = _upload(_client(analyst), b"a,a\n1,2\n", "dup.csv")
    assert response.status_code == 400
    assert response.json()["fields"]["file"] == [
        "dup.csv has duplicate column names: a. "
        "Rename them so every column has its own name."
    ]
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    ("language", "convention"), [("pt-br", "comma"), ("en", "point")]
)
def test_an_ambiguous_upload_takes_the_callers_language(analyst, language, convention):
    # 1.234 and 2.500 read as thousands in pt-BR, as decimals in English.
    client = _client(analyst)
    response = client.post(
        "/api/registry/datasets/",
        {"file": SimpleUploadedFile("amb.csv", b"amb\n1.234\n2.500\n"), "name": "a"},
        format="multipart",
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.status_code == 201, response.content
    dataset = Dataset.objects.get(pk=response.json()["id"])
    (amb,) = datasets.types_of(dataset)
    assert amb.convention == convention


def test_the_api_needs_a_token(db):
    client = _client()
    for url in (
        "/api/registry/models/",
        "/api/registry/jobs/1/",
        "/api/registry/models/penguins/versions/",
    ):
        response = client.get(url)
        assert response.status_code in (401, 403)
        assert "error" in response.json()
    assert _upload(client).status_code in (401, 403)


def test_viewers_read_but_cannot_upload_or_train(viewer, tiny_classifier):
    client = _client(viewer)
    assert client.get("/api/registry/models/").status_code == 200
    response = _upload(client)
    assert response.status_code == 403 and "permission" in response.json()["error"]
    assert _train(client, 1).status_code == 403
    assert not Dataset.objects.exists()


def test_cancel_through_the_api(analyst):
    client = _client(analyst)
    dataset = _upload(client).json()
    job = _train(client, dataset["id"]).json()
    response = client.post(f"/api/registry/jobs/{job['id']}/cancel/")
    assert response.json()["status"] == "cancelled"
    again = client.post(f"/api/registry/jobs/{job['id']}/cancel/")
    assert again.status_code == 400 and "already cancelled" in again.json()["error"]


def test_unknown_things_are_404(analyst, tiny_classifier):
    client = _client(analyst)
    assert client.get("/api/registry/jobs/99/").status_code == 404
    assert client.get("/api/registry/models/nope/versions/").status_code == 404
    response = client.get("/api/registry/models/penguins/versions/staging/")
    assert response.status_code == 404
    assert response.json()["error"] == "Model penguins has no alias 'staging'."


def test_wrong_methods_are_refused(analyst):
    client = _client(analyst)
    assert client.get("/api/registry/datasets/").status_code == 405
    assert client.delete("/api/registry/models/").status_code == 405


def test_the_openapi_schema_describes_the_registry_api(analyst):
    response = _client(analyst).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    for path in (
        "/api/registry/datasets/",
        "/api/registry/jobs/",
        "/api/registry/jobs/{id}/",
        "/api/registry/models/",
        "/api/registry/models/{name}/versions/{ref}/",
    ):
        assert path in text, path


def test_an_upload_over_the_limit_is_413(analyst, settings):
    from dataclasses import replace

    settings.CONFIG = replace(
        settings.CONFIG, training=replace(settings.CONFIG.training, max_upload_mb=1)
    )
    response = _upload(_client(analyst), b"x,y\n" + b"1.5,a\n" * 300_000)
    assert response.status_code == 413
    assert "larger than the 1 MB upload limit" in response.json()["error"]
    assert not Dataset.objects.exists()


def _refusal(response, status_code):
    """The JSON error shape every refusal has: {"error": str, "fields": {...}}."""
    assert response.status_code == status_code, response.content
    body = response.json()
    assert set(body) == {"error", "fields"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["fields"], dict)
    return body


@pytest.mark.parametrize(
    "url",
    [
        "/api/registry/datasets/99/",
        "/api/registry/jobs/99/",
        "/api/registry/models/nope/versions/",
        "/api/registry/models/nope/versions/1/",
    ],
)
def test_each_unknown_thing_is_a_json_404(analyst, url):
    body = _refusal(_client(analyst).get(url), 404)
    assert body["fields"] == {}


def test_cancelling_an_unknown_job_is_a_json_404(analyst):
    _refusal(_client(analyst).post("/api/registry/jobs/99/cancel/"), 404)


def test_an_unknown_version_number_is_404_naming_it(analyst, tiny_classifier):
    client = _client(analyst)
    body = _refusal(client.get("/api/registry/models/penguins/versions/v9/"), 404)
    assert body["error"] == "Model penguins has no version 9."
    for ref in ("1", "v1", "production"):
        found = client.get(f"/api/registry/models/penguins/versions/{ref}/")
        assert found.status_code == 200 and found.json()["number"] == 1


def test_a_viewer_cannot_cancel_a_job(analyst, viewer):
    trainer = _client(analyst)
    job = _train(trainer, _upload(trainer).json()["id"]).json()
    cancel = f"/api/registry/jobs/{job['id']}/cancel/"
    body = _refusal(_client(viewer).post(cancel), 403)
    assert "permission" in body["error"]
    assert TrainingJob.objects.get(pk=job["id"]).status == "queued"
    assert trainer.post(cancel).json()["status"] == "cancelled"


def test_a_viewer_reads_datasets_jobs_and_versions(analyst, viewer, tiny_classifier):
    trainer = _client(analyst)
    dataset = _upload(trainer).json()
    job = _train(trainer, dataset["id"]).json()
    client = _client(viewer)
    assert client.get(f"/api/registry/datasets/{dataset['id']}/").json()["rows"] == 344
    assert client.get(f"/api/registry/jobs/{job['id']}/").json()["status"] == "queued"
    versions = client.get("/api/registry/models/penguins/versions/").json()
    assert [(v["number"], v["aliases"]) for v in versions] == [(1, ["production"])]
    models = client.get("/api/registry/models/").json()
    assert models[0]["aliases"] == {"production": 1} and models[0]["versions"] == [1]


def test_training_without_the_required_fields_names_each(analyst):
    body = _refusal(
        _client(analyst).post("/api/registry/jobs/", {}, format="json"), 400
    )
    assert set(body["fields"]) == {"dataset", "model_name", "label"}
    assert not TrainingJob.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"problem_type": "clustering"}, "problem_type"),
        ({"eval_metric": "happiness"}, "eval_metric"),
        ({"time_limit": -5}, "time_limit"),
        ({"time_limit": "soon"}, "time_limit"),
        ({"seed": -1}, "seed"),
        ({"preset": "no_such_preset"}, "preset"),
        ({"excluded": "year"}, "excluded"),
        ({"dataset": "first"}, "dataset"),
        ({"model_name": "x" * 64}, "model_name"),
        ({"model_name": "jobs"}, "model_name"),  # reserved: a page's URL
    ],
)
def test_training_refuses_each_bad_field_by_name(analyst, change, field):
    client = _client(analyst)
    dataset = _upload(client).json()
    body = _refusal(_train(client, dataset["id"], **change), 400)
    assert list(body["fields"]) == [field]
    assert body["fields"][field] and all(
        isinstance(m, str) for m in body["fields"][field]
    )
    assert not TrainingJob.objects.exists()


def test_training_refuses_a_metric_of_another_problem_type(analyst):
    client = _client(analyst)
    dataset = _upload(client).json()
    body = _refusal(
        _train(client, dataset["id"], problem_type="multiclass", eval_metric="r2"),
        400,
    )
    assert "eval_metric" in body["fields"]
    assert not TrainingJob.objects.exists()


def test_training_refuses_a_body_that_is_not_json(analyst):
    response = _client(analyst).post(
        "/api/registry/jobs/", "{not json", content_type="application/json"
    )
    body = _refusal(response, 400)
    assert not TrainingJob.objects.exists()
    assert "JSON" in body["error"] or "parse" in body["error"].lower()


def test_an_upload_without_a_file_names_the_field(analyst):
    response = _client(analyst).post(
        "/api/registry/datasets/", {"name": "nothing"}, format="multipart"
    )
    body = _refusal(response, 400)
    assert list(body["fields"]) == ["file"]
    assert not Dataset.objects.exists()


def test_an_empty_upload_is_refused_with_its_reason(analyst):
    body = _refusal(_upload(_client(analyst), b"", "empty.csv"), 400)
    assert body["fields"]["file"]
    assert not Dataset.objects.exists()
