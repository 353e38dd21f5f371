"""The drift API: a version's runs with their summary (and one full report),
a run's full report; token or session, the view permission, the error shape."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dispatch.models import DispatchRun
from monitor.drift.report import DriftReport
from monitor.models import RunDrift
from monitor.tests.drift_runs import shifted, stored_run

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def token_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token = Token.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def drift_runs(tiny_classifier, make_dispatch, penguins_frame):
    dispatch = make_dispatch(model=tiny_classifier.model)
    return [
        stored_run(dispatch, tiny_classifier, penguins_frame, hours_ago=2),
        stored_run(dispatch, tiny_classifier, shifted(penguins_frame), hours_ago=1),
    ]


def versions_url(version) -> str:
    return f"/api/monitor/versions/{version.pk}/drift/"


def runs_url(run) -> str:
    return f"/api/monitor/runs/{run.pk}/drift/"


def test_a_version_lists_its_runs_newest_first(viewer, tiny_classifier, drift_runs):
    response = token_client(viewer).get(versions_url(tiny_classifier))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["version"] == {
        "id": tiny_classifier.pk,
        "model": "penguins",
        "number": 1,
    }
    assert [run["run"] for run in body["runs"]] == [r.pk for r in reversed(drift_runs)]
    latest, earlier = body["runs"]
    assert latest["verdict"] == "drift" and latest["dataset_drift"] is True
    assert latest["prediction_drift"] is True and latest["state"] == "checked"
    assert latest["drift_share"] == pytest.approx(4 / 7)
    assert set(latest["drifted"]) == {
        "island",
        "bill_length_mm",
        "flipper_length_mm",
        "body_mass_g",
    }
    # The three most important by permutation importance (the default).
    assert latest["important_drifted"] == [
        "island",
        "bill_length_mm",
        "flipper_length_mm",
    ]
    assert earlier["verdict"] == "no drift" and earlier["drifted"] == []
    assert earlier["rows"] == 344 and "report" not in earlier
    assert body["report"] is None


def test_a_version_gives_one_run_in_full_on_request(
    viewer, tiny_classifier, drift_runs
):
    response = token_client(viewer).get(
        versions_url(tiny_classifier), {"run": drift_runs[0].pk, "runs": 1}
    )
    body = response.json()
    assert response.status_code == 200
    assert [run["run"] for run in body["runs"]] == [drift_runs[1].pk]
    assert body["report"]["run"] == drift_runs[0].pk
    stored = RunDrift.objects.get(run=drift_runs[0]).report
    assert body["report"]["report"] == DriftReport.from_json(stored).to_json()


def test_a_run_gives_its_full_report(viewer, tiny_classifier, drift_runs):
    response = token_client(viewer).get(runs_url(drift_runs[1]))
    assert response.status_code == 200
    body = response.json()
    assert body["run"] == drift_runs[1].pk and body["version"] == tiny_classifier.pk
    assert body["dispatch"] == drift_runs[1].dispatch_id
    report = DriftReport.from_json(body["report"])
    assert report.dataset_drift and report.prediction_drift
    names = [f.name for f in report.features]
    assert names[:2] == ["island", "bill_length_mm"]  # by permutation importance
    island = report.get("island")
    assert island.method == "chisquare" and island.drifted and island.score < 0.05
    assert island.bins["labels"] and len(island.bins["current"]) == len(
        island.bins["labels"]
    )
    bill = report.get("bill_length_mm")
    assert len(bill.bins["edges"]) == len(bill.bins["reference"]) + 1


def test_session_authentication_works_too(viewer_client, drift_runs):
    assert viewer_client.get(runs_url(drift_runs[0])).status_code == 200


def test_an_unchecked_run_says_why(viewer, tiny_classifier, make_dispatch):
    dispatch = make_dispatch(model=tiny_classifier.model)
    run = stored_run(
        dispatch, tiny_classifier, report=DriftReport(state="drift monitoring is off")
    )
    body = token_client(viewer).get(runs_url(run)).json()
    assert body["state"] == "unchecked" and body["verdict"] == "not checked"
    assert body["reason"] == "drift monitoring is off"
    assert body["drift_share"] is None and body["report"]["features"] == []


@pytest.mark.parametrize("path", ["versions", "runs"])
def test_it_needs_authentication(tiny_classifier, drift_runs, path):
    url = (
        versions_url(tiny_classifier) if path == "versions" else runs_url(drift_runs[0])
    )
    response = token_client().get(url)
    assert response.status_code in (401, 403)
    assert set(response.json()) == {"error", "fields"}


@pytest.mark.parametrize("path", ["versions", "runs"])
def test_it_needs_the_view_permission(nobody, tiny_classifier, drift_runs, path):
    url = (
        versions_url(tiny_classifier) if path == "versions" else runs_url(drift_runs[0])
    )
    response = token_client(nobody).get(url)
    assert response.status_code == 403
    assert "permission" in response.json()["error"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_it_only_reads(viewer, tiny_classifier, drift_runs, method):
    client = token_client(viewer)
    for url in (versions_url(tiny_classifier), runs_url(drift_runs[0])):
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code == 405
        assert set(response.json()) == {"error", "fields"}
    assert RunDrift.objects.count() == 2


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"runs": "all"}, "runs", "A valid integer is required."),
        ({"runs": "0"}, "runs", "greater than or equal to 1"),
        ({"runs": "201"}, "runs", "less than or equal to 200"),
        ({"run": "x"}, "run", "A valid integer is required."),
        ({"run": "999999"}, "run", "Run 999999 has no drift report for version"),
    ],
)
def test_bad_parameters_name_the_field(
    viewer, tiny_classifier, drift_runs, params, field, message
):
    response = token_client(viewer).get(versions_url(tiny_classifier), params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "The request has invalid fields."
    assert list(body["fields"]) == [field]
    assert message in body["fields"][field][0]


def test_unknown_ids_are_404(viewer, drift_runs, make_dispatch):
    client = token_client(viewer)
    unknown = ("/api/monitor/versions/999999/drift/", "/api/monitor/runs/999999/drift/")
    for url in unknown:
        response = client.get(url)
        assert response.status_code == 404
        assert set(response.json()) == {"error", "fields"}
    bare = DispatchRun.objects.create(dispatch=drift_runs[0].dispatch)
    response = client.get(runs_url(bare))
    assert response.status_code == 404
    assert response.json()["error"] == f"Run {bare.pk} has no drift report (yet)."


def test_the_schema_describes_the_drift_api(viewer):
    response = token_client(viewer).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    version_path = paths["/api/monitor/versions/{id}/drift/"]["get"]
    assert {p["name"] for p in version_path["parameters"]} >= {"id", "runs", "run"}
    assert "/api/monitor/runs/{id}/drift/" in paths
