"""The monitoring settings page of a model."""

import pytest

from mlframework.events.models import Event
from monitor.models import ModelMonitoring

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def url(name="penguins"):
    return f"/monitor/models/{name}/"


def valid(**changes):
    data = {
        "drift_enabled": "on",
        "numeric_method": "",
        "categorical_method": "",
        "prediction_method": "",
        "p_value_threshold": "0.05",
        "distance_threshold": "0.1",
        "drift_share": "0.5",
        "ignored": "",
        "overrides": "",
        "important_features": "3",
        "important_runs": "3",
        "actuals_datasource": "",
        "actuals_query": "",
        "actuals_key_columns": "",
        "actuals_label_column": "actual",
        "actuals_days": "30",
        "metric_tolerance": "0.05",
    }
    data.update(changes)
    return data


def test_it_shows_the_defaults(viewer_client, tiny_classifier):
    response = viewer_client.get(url())
    assert response.status_code == 200
    body = response.content.decode()
    assert "Monitoring of" in body and "Automatic (as Evidently)" in body
    assert "needs the train-models permission" in body
    assert not ModelMonitoring.objects.exists()  # looking saves nothing


def test_it_saves_drift_settings_and_the_actuals_query(analyst_client, tiny_classifier):
    response = analyst_client.post(
        url(),
        valid(
            numeric_method="psi",
            drift_share="0.3",
            ignored="year, sex",
            overrides="body_mass_g = wasserstein 0.2\nisland = 0.01",
            important_runs="2",
            actuals_datasource="demo",
            actuals_query="SELECT id, species AS actual FROM penguins",
            actuals_key_columns="id",
        ),
    )
    assert response.status_code == 302
    saved = ModelMonitoring.objects.get(model=tiny_classifier.model)
    assert saved.drift_settings["numeric_method"] == "psi"
    assert saved.drift_settings["drift_share"] == 0.3
    assert saved.drift_settings["ignored"] == ["year", "sex"]
    assert saved.drift_settings["methods"] == {"body_mass_g": "wasserstein"}
    assert saved.drift_settings["thresholds"] == {"body_mass_g": 0.2, "island": 0.01}
    assert saved.important_runs == 2
    assert saved.actuals_key_columns == ["id"]
    event = Event.objects.using("events").get(kind="monitoring.changed")
    assert event.data["model"] == "penguins"
    # Shown again as saved.
    body = analyst_client.get(url()).content.decode()
    assert "body_mass_g = wasserstein 0.2" in body and "year, sex" in body


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"ignored": "wingspan"}, "ignored", "wingspan: not a feature of the model"),
        ({"overrides": "island psi"}, "overrides", "line 1: write feature = method"),
        ({"overrides": "island = magic"}, "overrides", "neither a method"),
        ({"overrides": "island = -1"}, "overrides", "at least 0"),
        (
            {"overrides": "island = psi\nisland = 0.2"},
            "overrides",
            "line 2: island is given twice",
        ),
        ({"categorical_method": "ks"}, None, "works on numbers only"),
        ({"drift_share": "1.5"}, "drift_share", "less than or equal to 1"),
        ({"important_runs": "0"}, "important_runs", "between 1 and 100"),
        ({"actuals_days": "0"}, "actuals_days", "between 1 and 3650"),
        ({"metric_tolerance": "-1"}, "metric_tolerance", "at least 0"),
        (
            {"actuals_query": "SELECT 1"},
            "actuals_datasource",
            "choose where the actuals query runs",
        ),
        (
            {"actuals_datasource": "demo"},
            "actuals_query",
            "give the query returning the actuals",
        ),
        (
            {"actuals_datasource": "demo", "actuals_query": "DELETE FROM penguins"},
            "actuals_query",
            "The query is refused",
        ),
        (
            {"actuals_key_columns": "id; DROP"},
            "actuals_key_columns",
            "",
        ),
        ({"actuals_label_column": "a b"}, "actuals_label_column", ""),
    ],
)
def test_it_refuses_bad_settings_and_saves_nothing(
    analyst_client, tiny_classifier, changes, field, message
):
    response = analyst_client.post(url(), valid(**changes))
    assert response.status_code == 400
    form = response.context["form"]
    errors = form.errors.get(field or "__all__")
    assert errors, form.errors
    assert message in " ".join(errors)
    assert not ModelMonitoring.objects.exists()
    assert not Event.objects.using("events").filter(kind="monitoring.changed").exists()


def test_changing_needs_the_train_permission(
    viewer_client, operator_client, tiny_classifier
):
    for client in (viewer_client, operator_client):
        assert client.post(url(), valid(drift_enabled="")).status_code == 403
    assert not ModelMonitoring.objects.exists()


def test_it_needs_login(client, tiny_classifier):
    response = client.get(url())
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_unknown_model_is_404(viewer_client, db):
    assert viewer_client.get(url("nope")).status_code == 404


def test_other_methods_are_refused(analyst_client, tiny_classifier):
    assert analyst_client.put(url()).status_code == 405


def test_the_model_page_links_to_it(viewer_client, tiny_classifier):
    assert url() in viewer_client.get("/models/penguins/").content.decode()
