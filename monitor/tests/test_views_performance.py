"""The Performance page of a model version, its "Compute now" and its JSON API."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monitor.models import MetricScope, ModelMonitoring, RealisedScore, RealisedState
from monitor.tests.realised_world import monitor, truth_of

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def page_url(version) -> str:
    return reverse("monitor:performance", args=[version.pk])


def compute_url(version) -> str:
    return reverse("monitor:performance_compute", args=[version.pk])


def api_url(version) -> str:
    return reverse("monitor-api:performance", args=[version.pk])


@pytest.fixture
def scored(tiny_classifier, dispatch_into, run_dispatch):
    """A run of the tiny classifier, scored against actuals on one day."""
    run = run_dispatch(dispatch_into(tiny_classifier))
    monitor(tiny_classifier.model, "demo", "SELECT 1")
    RealisedScore.objects.create(
        version=tiny_classifier,
        scope=MetricScope.RUN,
        run=run,
        rows_predicted=344,
        rows_matched=300,
        metrics={"accuracy": 0.8125, "f1_macro": 0.75},
        absent={"roc_auc": "the dispatch wrote no probabilities"},
    )
    RealisedScore.objects.create(
        version=tiny_classifier,
        scope=MetricScope.DAY,
        day=dt.date(2026, 11, 30),
        rows_predicted=344,
        rows_matched=300,
        metrics={"accuracy": 0.8125, "f1_macro": 0.75},
    )
    return run


def test_the_page_charts_days_against_the_held_out_score(
    viewer_client, tiny_classifier, scored
):
    response = viewer_client.get(page_url(tiny_classifier))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Realised performance of penguins v1" in html
    assert 'id="performance-chart"' in html
    assert "monitor/performance.js" in html and "vendor/chartjs" in html
    chart = response.context["chart"]
    assert chart["labels"] == ["2026-11-30"]
    assert chart["realised"]["accuracy"] == [0.8125]
    assert chart["held_out"]["accuracy"] == tiny_classifier.scores["accuracy"]
    assert 'id="performance-data" type="application/json"' in html
    # The run's row, its metrics, and why ROC AUC is missing.
    assert f'data-run="{scored.pk}" data-state="scored"' in html
    assert "0.8125" in html and "roc_auc: the dispatch wrote no probabilities" in html
    assert "<script>" not in html  # no inline JS (CSP)
    assert "Compute now" not in html  # viewers get no button


def test_an_operator_sees_compute_now(operator_client, tiny_classifier, scored):
    html = operator_client.get(page_url(tiny_classifier)).content.decode()
    assert "Compute now" in html and 'name="csrfmiddlewaretoken"' in html


def test_without_an_actuals_query_the_page_says_so(viewer_client, tiny_classifier):
    response = viewer_client.get(page_url(tiny_classifier))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="not-configured"' in html
    assert "No realised score per day yet." in html
    assert "No run has a realised score yet." in html


def test_the_page_needs_login(client, tiny_classifier):
    response = client.get(page_url(tiny_classifier))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_page_needs_the_view_permission(client, nobody, tiny_classifier):
    client.force_login(nobody)
    assert client.get(page_url(tiny_classifier)).status_code == 403


def test_the_page_is_get_only(viewer_client, tiny_classifier):
    assert viewer_client.post(page_url(tiny_classifier)).status_code == 405


def test_an_unknown_version_is_404(viewer_client, db):
    assert (
        viewer_client.get(reverse("monitor:performance", args=[999])).status_code == 404
    )


# -- Compute now --------------------------------------------------------------


def test_compute_now_scores_the_models_runs(
    operator_client,
    tiny_classifier,
    dispatch_into,
    run_dispatch,
    actuals_in,
    penguins_frame,
):
    run = run_dispatch(dispatch_into(tiny_classifier))
    table = actuals_in("demo", truth_of(penguins_frame, "species"))
    monitor(tiny_classifier.model, "demo", f"SELECT * FROM {table}")

    response = operator_client.post(compute_url(tiny_classifier), follow=True)

    assert response.redirect_chain[-1] == (page_url(tiny_classifier), 302)
    html = response.content.decode()
    assert "Realised scores computed: penguins: 1 of 1 run(s) scored" in html
    score = RealisedScore.objects.get(scope=MetricScope.RUN, run=run)
    assert score.state == RealisedState.SCORED and score.rows_matched == 344
    assert f'data-run="{run.pk}" data-state="scored"' in html


def test_compute_now_shows_a_bad_actuals_query(
    operator_client, tiny_classifier, dispatch_into, run_dispatch
):
    run_dispatch(dispatch_into(tiny_classifier))
    monitor(tiny_classifier.model, "demo", "DROP TABLE penguins")
    response = operator_client.post(compute_url(tiny_classifier), follow=True)
    html = response.content.decode()
    assert (
        "Realised scores failed: the actuals query may not run on a read path" in html
    )
    assert 'data-testid="realised-error"' in html
    assert 'data-state="failed"' in html


def test_compute_now_without_an_actuals_query_explains(
    operator_client, tiny_classifier
):
    response = operator_client.post(compute_url(tiny_classifier), follow=True)
    assert response.status_code == 200
    assert "has no actuals query" in response.content.decode()
    assert not RealisedScore.objects.exists()
    assert not ModelMonitoring.objects.exists()


def test_compute_now_needs_the_operate_permission(
    viewer_client, analyst_client, tiny_classifier
):
    monitor(tiny_classifier.model, "demo", "SELECT 1")
    for client in (viewer_client, analyst_client):
        assert client.post(compute_url(tiny_classifier)).status_code == 403
    assert ModelMonitoring.objects.get().realised_checked is None  # nothing ran


def test_compute_now_is_post_only(operator_client, tiny_classifier):
    assert operator_client.get(compute_url(tiny_classifier)).status_code == 405


def test_compute_now_needs_csrf(operator, tiny_classifier):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(compute_url(tiny_classifier)).status_code == 403


def test_compute_now_needs_login(client, tiny_classifier):
    response = client.post(compute_url(tiny_classifier))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_compute_now_for_an_unknown_version_is_404(operator_client, db):
    url = reverse("monitor:performance_compute", args=[999])
    assert operator_client.post(url).status_code == 404


def test_the_version_page_links_to_its_performance(viewer_client, tiny_classifier):
    html = viewer_client.get(tiny_classifier.get_absolute_url()).content.decode()
    assert f'href="{page_url(tiny_classifier)}"' in html


# -- the JSON API -------------------------------------------------------------


def test_the_api_gives_what_the_page_shows(viewer, tiny_classifier, scored):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=viewer)}")
    response = client.get(api_url(tiny_classifier))
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["version"] == tiny_classifier.pk and body["model"] == "penguins"
    assert body["configured"] is True and body["primary_metric"] == "accuracy"
    assert body["metrics"] == ["accuracy", "f1_macro", "roc_auc"]
    assert body["held_out"]["accuracy"] == tiny_classifier.scores["accuracy"]
    assert body["tolerance"] == 0.05
    (day,) = body["days"]
    assert day["day"] == "2026-11-30" and day["metrics"]["accuracy"] == 0.8125
    (run,) = body["runs"]
    assert run["run"] == scored.pk and run["rows_matched"] == 300
    assert run["absent"] == {"roc_auc": "the dispatch wrote no probabilities"}


def test_the_api_takes_a_session_too(viewer_client, tiny_classifier):
    response = viewer_client.get(api_url(tiny_classifier))
    assert response.status_code == 200
    assert response.json()["configured"] is False and response.json()["days"] == []


def test_the_api_needs_authentication(tiny_classifier):
    response = APIClient().get(api_url(tiny_classifier))
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_the_api_needs_the_view_permission(nobody, tiny_classifier):
    client = APIClient()
    client.force_authenticate(nobody)
    assert client.get(api_url(tiny_classifier)).status_code == 403


def test_the_api_answers_404_for_an_unknown_version(viewer_client, db):
    response = viewer_client.get(reverse("monitor-api:performance", args=[999]))
    assert response.status_code == 404 and "error" in response.json()


def test_the_api_is_get_only(viewer_client, tiny_classifier):
    assert viewer_client.post(api_url(tiny_classifier)).status_code == 405
