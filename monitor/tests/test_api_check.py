"""POST /api/monitor/versions/<pk>/drift/check/: a file (multipart) or a
query (JSON) against a version; token or session auth; {"error", "fields"}."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monitor.models import RunDrift
from registry.models import Dataset

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def inputs(penguins_frame):
    return penguins_frame.drop(columns=["species"])


@pytest.fixture
def url(tiny_classifier):
    return f"/api/monitor/versions/{tiny_classifier.pk}/drift/check/"


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token = Token.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def upload(frame, name="rows.csv"):
    return SimpleUploadedFile(name, frame.to_csv(index=False).encode(), "text/csv")


def test_a_file_gives_the_report(analyst, url, inputs, tiny_classifier):
    response = api(analyst).post(url, {"file": upload(inputs)}, format="multipart")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["model"], body["version"], body["source"]) == ("penguins", 1, "file")
    report = body["report"]
    assert report["rows"] == 344 and report["state"] == ""
    assert report["dataset_drift"] is False and report["drift_share"] == 0.0
    assert {f["name"] for f in report["features"]} >= {"island", "bill_length_mm"}
    assert report["prediction"]["method"]
    assert RunDrift.objects.count() == 0 and not Dataset.objects.exists()


def test_a_query_gives_the_report(operator, url, inputs, drift_table):
    name = drift_table("demo", inputs.assign(island="Dream"))
    response = api(operator).post(
        url, {"datasource": "demo", "sql": f"SELECT * FROM {name}"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["source"] == "query"
    assert "island" in body["report"]["drifted"]
    assert RunDrift.objects.count() == 0


def test_session_auth_works_too(analyst_client, url, inputs):
    response = analyst_client.post(url, {"file": upload(inputs)})
    assert response.status_code == 200
    assert response.json()["report"]["rows"] == 344


def test_it_needs_authentication(url, inputs):
    response = api().post(url, {"datasource": "demo", "sql": "SELECT 1"}, format="json")
    assert response.status_code in (401, 403)
    assert set(response.json()) == {"error", "fields"}


def test_it_needs_the_showroom_or_operator_role(viewer, url):
    response = api(viewer).post(
        url, {"datasource": "demo", "sql": "SELECT 1"}, format="json"
    )
    assert response.status_code == 403
    assert set(response.json()) == {"error", "fields"}


def test_it_answers_post_only(analyst, url):
    response = api(analyst).get(url)
    assert response.status_code == 405
    assert "error" in response.json()


def test_an_unknown_version_is_404(analyst, tiny_classifier):
    response = api(analyst).post(
        f"/api/monitor/versions/{tiny_classifier.pk + 100}/drift/check/",
        {"datasource": "demo", "sql": "SELECT 1"},
        format="json",
    )
    assert response.status_code == 404
    assert set(response.json()) == {"error", "fields"}


def refused(response, field: str | None, message: str) -> None:
    assert response.status_code == 400, response.json()
    body = response.json()
    assert set(body) == {"error", "fields"}
    if field is None:
        assert message in body["error"], body
    else:
        assert any(message in m for m in body["fields"][field]), body
    assert RunDrift.objects.count() == 0


def test_it_refuses_bad_bodies(analyst, url, inputs):
    client = api(analyst)
    refused(client.post(url, {}, format="json"), None, "Give a file (multipart)")
    refused(
        client.post(url, {"datasource": "demo"}, format="json"),
        "sql",
        "This field is required with a query.",
    )
    refused(
        client.post(
            url,
            {"file": upload(inputs), "datasource": "demo", "sql": "SELECT 1"},
            format="multipart",
        ),
        None,
        "Give a file or a query, not both.",
    )
    response = client.post(url, "[1]", content_type="application/json")  # not an object
    assert response.status_code == 400
    assert response.json()["error"] == "The body must be a JSON object, got a list."


def test_it_names_each_bad_input(analyst, url, inputs):
    client = api(analyst)
    refused(
        client.post(url, {"datasource": "sales", "sql": "SELECT 1"}, format="json"),
        "datasource",
        "There is no datasource 'sales' in config.yaml",
    )
    refused(
        client.post(
            url, {"datasource": "demo", "sql": "DROP TABLE penguins"}, format="json"
        ),
        "sql",
        "The query is refused: demo: ",
    )
    refused(
        client.post(
            url,
            {"file": upload(inputs.drop(columns=["year"]))},
            format="multipart",
        ),
        "file",
        "rows.csv: penguins v1 needs column(s) missing from the input: year.",
    )
    frame = inputs.astype({"year": object})
    frame.loc[frame.index[0], "year"] = "last year"
    refused(
        client.post(url, {"file": upload(frame)}, format="multipart"),
        "file",
        "rows.csv, row 1, column year: 'last year' is not a number.",
    )


def test_an_archived_version_is_refused_in_the_error(
    analyst, url, tiny_classifier, inputs, drift_table
):
    name = drift_table("demo", inputs)
    tiny_classifier.status = tiny_classifier.Status.ARCHIVED
    tiny_classifier.save(update_fields=["status"])
    refused(
        api(analyst).post(
            url,
            {"datasource": "demo", "sql": f"SELECT * FROM {name}"},
            format="json",
        ),
        None,
        "only ready versions predict",
    )
