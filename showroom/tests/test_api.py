import pytest
from django.conf import settings

from showroom.tests.conftest import showroom_events

pytestmark = pytest.mark.django_db(databases=["default", "events"])

URL = "/api/showroom/predict/"


def post(client, body):
    return client.post(URL, body, content_type="application/json")


def test_it_predicts_one_row_with_probabilities(analyst_api, tiny_classifier, penguin):
    response = post(analyst_api, {"model": "penguins", "row": penguin})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == "penguins"
    assert body["version"] == tiny_classifier.number
    assert body["problem_type"] == "multiclass"
    assert body["label"] == "species"
    assert body["score"] == tiny_classifier.scores[tiny_classifier.eval_metric]
    assert body["latency_ms"] > 0
    [prediction] = body["predictions"]
    assert prediction["prediction"] == "Gentoo"
    assert set(prediction["probabilities"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert prediction["unseen"] == {} and prediction["out_of_range"] == {}


def test_each_call_is_an_event(analyst_api, analyst, tiny_classifier, penguin):
    post(analyst_api, {"model": "penguins", "version": "1", "row": penguin})
    [event] = showroom_events()
    assert event.kind == "prediction"
    assert event.user_id == analyst.pk
    assert event.model_version_id == tiny_classifier.pk
    assert event.data["origin"] == "api"
    assert event.data["inputs"][0]["island"] == "Biscoe"
    assert event.data["outputs"][0]["prediction"] == "Gentoo"
    assert event.data["latency_ms"] > 0


def test_it_predicts_many_rows_and_ignores_extra_columns(
    analyst_api, tiny_classifier, penguins_frame
):
    frame = penguins_frame.head(6).astype(object)
    rows = frame.where(frame.notna(), None).to_dict(orient="records")
    response = post(
        analyst_api, {"model": "penguins", "version": "production", "rows": rows}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [p["prediction"] for p in body["predictions"]] == list(frame["species"])
    assert body["ignored_fields"] == ["id", "species"]


def test_regression_answers_a_value_and_the_typical_error(
    analyst_api, tiny_regressor, penguin
):
    del penguin["body_mass_g"]
    penguin["species"] = "Gentoo"
    response = post(analyst_api, {"model": "penguins-mass", "row": penguin})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["typical_error"] == pytest.approx(tiny_regressor.scores["mae"])
    value = body["predictions"][0]["prediction"]
    assert isinstance(value, float) and 3000 < value < 7000
    assert body["predictions"][0]["probabilities"] == {}


def test_unseen_categories_are_flagged(analyst_api, tiny_classifier, penguin):
    penguin["island"] = "Atlantis"
    response = post(analyst_api, {"model": "penguins", "row": penguin})
    assert response.status_code == 200
    assert response.json()["predictions"][0]["unseen"] == {"island": "Atlantis"}


def test_numbers_outside_training_are_flagged(analyst_api, tiny_classifier, penguin):
    penguin["flipper_length_mm"] = 400
    response = post(analyst_api, {"model": "penguins", "row": penguin})
    assert response.json()["predictions"][0]["out_of_range"] == {
        "flipper_length_mm": 400.0
    }


def test_a_missing_feature_is_named(analyst_api, tiny_classifier, penguin):
    del penguin["island"]
    response = post(analyst_api, {"model": "penguins", "row": penguin})
    assert response.status_code == 400
    body = response.json()
    assert body["fields"] == {"row.island": ["is missing"]}
    assert "row.island is missing" in body["error"]
    assert showroom_events() == []


@pytest.mark.parametrize(
    ("feature", "value", "message"),
    [
        ("bill_length_mm", "long", "expected a number, got 'long'"),
        ("flipper_length_mm", [217], "expected a number, got a list"),
        ("island", {"name": "Biscoe"}, "expected a category, got an object"),
        ("year", True, "expected a number, got a boolean"),
    ],
)
def test_a_wrong_type_is_named(
    analyst_api, tiny_classifier, penguins_frame, feature, value, message
):
    rows = [dict(PENGUIN_ROW), {**PENGUIN_ROW, feature: value}]
    response = post(analyst_api, {"model": "penguins", "rows": rows})
    assert response.status_code == 400
    assert response.json()["fields"] == {f"rows[1].{feature}": [message]}
    assert showroom_events() == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "must be an object of feature values, got null"),
        ([1, 2], "must be an object of feature values, got a list"),
        (7, "must be an object of feature values, got a number"),
    ],
)
def test_a_row_that_is_not_an_object_is_named(
    analyst_api, tiny_classifier, penguin, value, message
):
    rows = [penguin, penguin, value]
    response = post(analyst_api, {"model": "penguins", "rows": rows})
    assert response.status_code == 400
    assert response.json()["fields"] == {"rows[2]": [message]}
    assert "ErrorDetail" not in response.content.decode()
    assert showroom_events() == []


def test_too_many_rows_answer_413(analyst_api, tiny_classifier, penguin):
    rows = [penguin] * (settings.CONFIG.showroom.max_rows + 1)
    response = post(analyst_api, {"model": "penguins", "rows": rows})
    assert response.status_code == 413
    assert (
        f"at most {settings.CONFIG.showroom.max_rows} rows" in response.json()["error"]
    )
    assert showroom_events() == []


def test_the_limit_itself_is_accepted(analyst_api, tiny_classifier, penguin):
    rows = [penguin] * settings.CONFIG.showroom.max_rows
    response = post(analyst_api, {"model": "penguins", "rows": rows})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == len(rows)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "penguins"}, None),
        ({"model": "penguins", "row": {}, "rows": []}, None),
        ({"model": "penguins", "rows": []}, "rows"),
        ({"model": "penguins", "rows": ["x"]}, "rows[0]"),
        ({"model": "penguins", "row": "x"}, "row"),
        ({"row": {}}, "model"),
    ],
)
def test_malformed_requests_are_refused(analyst_api, tiny_classifier, body, field):
    response = post(analyst_api, body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"]
    if field:
        assert field in payload["fields"]
    assert showroom_events() == []


def test_an_unknown_model_or_version_is_404(analyst_api, tiny_classifier, penguin):
    response = post(analyst_api, {"model": "nope", "row": penguin})
    assert response.status_code == 404
    assert "nope" in response.json()["error"]
    response = post(analyst_api, {"model": "penguins", "version": "9", "row": penguin})
    assert response.status_code == 404
    assert "no version 9" in response.json()["error"]
    response = post(
        analyst_api, {"model": "penguins", "version": "staging", "row": penguin}
    )
    assert response.status_code == 404


def test_an_archived_version_is_unavailable(analyst_api, tiny_classifier, penguin):
    from registry import services

    tiny_classifier.aliases.all().delete()
    services.archive(tiny_classifier)
    response = post(analyst_api, {"model": "penguins", "version": "1", "row": penguin})
    assert response.status_code == 503
    assert "archived" in response.json()["error"]


def test_it_needs_a_token_or_session(client, tiny_classifier, penguin):
    response = post(client, {"model": "penguins", "row": penguin})
    assert response.status_code in (401, 403)
    from django.test import Client

    bad = Client(HTTP_AUTHORIZATION="Token not-a-token")
    assert post(bad, {"model": "penguins", "row": penguin}).status_code == 401
    assert showroom_events() == []


def test_it_needs_the_showroom_permission(viewer_api, tiny_classifier, penguin):
    response = post(viewer_api, {"model": "penguins", "row": penguin})
    assert response.status_code == 403
    assert showroom_events() == []


def test_get_is_not_allowed(analyst_api):
    assert analyst_api.get(URL).status_code == 405


def test_it_is_in_the_openapi_schema(analyst_client):
    response = analyst_client.get("/api/schema/", {"format": "json"})
    schema = response.json()
    operation = schema["paths"]["/api/showroom/predict/"]["post"]
    assert operation["operationId"] == "showroom_predict"
    assert {"200", "400", "404", "413"} <= set(operation["responses"])
    request = schema["components"]["schemas"]["PredictRequest"]
    assert {"model", "version", "row", "rows"} <= set(request["properties"])


PENGUIN_ROW = {
    "island": "Dream",
    "bill_length_mm": 39.5,
    "bill_depth_mm": 17.8,
    "flipper_length_mm": 188,
    "body_mass_g": 3300,
    "sex": "female",
    "year": 2007,
}


def test_the_version_may_be_a_json_number(analyst_api, tiny_classifier, penguin):
    response = post(analyst_api, {"model": "penguins", "version": 1, "row": penguin})
    assert response.status_code == 200
    assert response.json()["version"] == 1
