"""Each /api/ request becomes one ApiRequest row, stored after its answer."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.authtoken.models import Token

from mlframework.core import demo
from mlframework.usage import recorder
from mlframework.usage.middleware import ApiUsageMiddleware
from mlframework.usage.models import ApiRequest

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def _token(user) -> str:
    return f"Token {Token.objects.get_or_create(user=user)[0].key}"


def _rows(count):
    frame = demo.read_csv().drop(columns=["species", "id"]).head(count)
    return [
        {k: (None if v != v else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def test_a_prediction_is_recorded_with_its_user_model_and_time(
    client, analyst, tiny_classifier
):
    response = client.post(
        "/api/showroom/predict/",
        {"model": "penguins", "version": "production", "rows": _rows(2)},
        content_type="application/json",
        HTTP_AUTHORIZATION=_token(analyst),
    )
    assert response.status_code == 200
    row = ApiRequest.objects.get()
    assert (row.user_id, row.username) == (analyst.pk, "ana")
    assert (row.endpoint, row.model_name) == ("showroom-api:predict", "penguins")
    assert (row.method, row.status) == ("POST", 200)
    assert 0 < row.duration_ms < 60_000


def test_the_model_of_a_registry_url_is_taken_from_it(client, viewer, tiny_classifier):
    response = client.get(
        "/api/registry/models/penguins/versions/", HTTP_AUTHORIZATION=_token(viewer)
    )
    assert response.status_code == 200
    row = ApiRequest.objects.get()
    assert (row.endpoint, row.model_name, row.username) == (
        "registry-api:versions",
        "penguins",
        "vera",
    )


def test_a_refused_request_is_recorded_without_a_user(client):
    response = client.get("/api/registry/models/", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401
    row = ApiRequest.objects.get()
    assert (row.user_id, row.username, row.status) == (None, "", 401)


def test_an_unknown_api_path_is_recorded_under_one_name(client, viewer):
    client.force_login(viewer)
    assert client.get("/api/no/such/thing/").status_code == 404
    assert ApiRequest.objects.get().endpoint == "<unresolved>"


def test_pages_are_not_recorded(viewer_client):
    viewer_client.get("/monitor/")
    viewer_client.get("/healthz")
    assert not ApiRequest.objects.exists()


def test_the_row_waits_for_the_response_to_be_closed(viewer):
    request = RequestFactory().get("/api/registry/models/")
    request.user = viewer
    middleware = ApiUsageMiddleware(lambda r: HttpResponse(status=204))
    middleware(request)
    assert not ApiRequest.objects.exists()  # the answer is not sent yet
    # What Django's request_finished signal calls once the server closed the
    # response (the test client's requests above go through the signal).
    recorder.store_pending()
    row = ApiRequest.objects.get()
    assert (row.status, row.username) == (204, "vera")
    recorder.store_pending()  # once only
    assert ApiRequest.objects.count() == 1


def test_a_row_whose_response_was_never_closed_is_stored_with_the_next(viewer):
    middleware = ApiUsageMiddleware(lambda r: HttpResponse(status=200))
    for _ in range(2):
        request = RequestFactory().get("/api/registry/models/")
        request.user = viewer
        middleware(request)
    assert ApiRequest.objects.count() == 1
    recorder.store_pending()
    assert ApiRequest.objects.count() == 2


@pytest.mark.django_db(transaction=True, databases=["default", "events"])
def test_a_row_the_database_refuses_is_logged_not_raised(caplog):
    bad = ApiRequest(endpoint="x", method="GET", status=200, duration_ms=None)
    assert recorder.save(bad) is False
    assert "API request not recorded" in caplog.text
