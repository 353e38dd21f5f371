"""GET/POST /api/registry/models/<name>/versions/<ref>/fairness/."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from mlframework.core import demo
from registry import datasets, fairness_jobs
from registry.fairness import FairnessReport
from registry.models import VersionFairness
from registry.tests.helpers import train_tiny

pytestmark = pytest.mark.django_db(databases=["default", "events"])

URL = "/api/registry/models/penguins/versions/{ref}/fairness/"


def _client(user=None):
    client = APIClient()
    if user is not None:
        token = Token.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def stored_penguins(db):
    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    frame = datasets.read_frame(dataset)
    return train_tiny(frame, "species", "penguins", dataset=dataset)


@pytest.mark.slow
def test_it_gives_the_report_by_number_or_alias(viewer, stored_penguins):
    fairness_jobs.compute(stored_penguins, ["sex"])
    client = _client(viewer)
    for ref in ("1", "v1", "production"):
        response = client.get(URL.format(ref=ref))
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "done" and body["sensitive"] == ["sex"]
        report = FairnessReport.from_json(body["report"])
        assert report.column("sex").slices[0].positive == "Adelie"
        assert body["report"]["worst_gap"] == report.worst_gap()


def test_it_is_404_before_anything_was_measured(viewer, stored_penguins):
    client = _client(viewer)
    response = client.get(URL.format(ref="1"))
    assert response.status_code == 404
    assert "has not been measured" in response.json()["error"]
    assert client.get(URL.format(ref="9")).status_code == 404


def test_an_analyst_queues_a_computation(analyst, stored_penguins):
    response = _client(analyst).post(
        URL.format(ref="1"), {"sensitive": ["island"]}, format="json"
    )
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert response.json()["report"] is None
    assert VersionFairness.objects.get().sensitive == ["island"]


def test_a_viewer_cannot_queue_one(viewer, stored_penguins):
    response = _client(viewer).post(
        URL.format(ref="1"), {"sensitive": ["island"]}, format="json"
    )
    assert response.status_code == 403
    assert not VersionFairness.objects.exists()


def test_it_needs_authentication(stored_penguins):
    assert _client().get(URL.format(ref="1")).status_code in (401, 403)


def test_a_missing_sensitive_column_is_a_400_naming_it(analyst, stored_penguins):
    client = _client(analyst)
    response = client.post(
        URL.format(ref="1"), {"sensitive": ["religion"]}, format="json"
    )
    assert response.status_code == 400
    assert "religion" in str(response.json())
    assert "sensitive" in response.json()["fields"]
    empty = client.post(URL.format(ref="1"), {"sensitive": []}, format="json")
    assert empty.status_code == 400
    assert not VersionFairness.objects.exists()


def test_the_openapi_schema_has_the_fairness_route(viewer):
    response = _client(viewer).get("/api/schema/", HTTP_ACCEPT="application/json")
    paths = response.json()["paths"]
    route = paths["/api/registry/models/{name}/versions/{ref}/fairness/"]
    assert set(route) >= {"get", "post"}


def test_training_through_the_api_takes_sensitive_columns(analyst, db):
    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    client = _client(analyst)
    body = {"dataset": dataset.pk, "model_name": "penguins", "label": "species"}
    refused = client.post(
        "/api/registry/jobs/", {**body, "sensitive": ["religion"]}, format="json"
    )
    assert refused.status_code == 400
    assert "religion" in refused.json()["fields"]["sensitive"][0]
    queued = client.post(
        "/api/registry/jobs/", {**body, "sensitive": ["sex"]}, format="json"
    )
    assert queued.status_code == 202
    assert queued.json()["options"]["sensitive"] == ["sex"]
