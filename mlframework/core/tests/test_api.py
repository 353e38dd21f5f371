"""The JSON API's one error shape, its bounded JSON parser, its Django-level
errors (unknown URLs, crashes) and the OpenAPI schema's refusals."""

import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import path
from rest_framework.authtoken.models import Token
from rest_framework.views import APIView

from mlframework import urls as project_urls
from mlframework.core import parsers

pytestmark = pytest.mark.django_db(databases=["default", "events"])

PREDICT = "/api/showroom/predict/"
TRAIN = "/api/registry/jobs/"


def token_client(user, **extra) -> Client:
    token, _ = Token.objects.get_or_create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}", **extra)


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "fields"}
    assert isinstance(body["error"], str) and body["error"]
    assert all(
        isinstance(messages, list) and all(isinstance(m, str) for m in messages)
        for messages in body["fields"].values()
    )
    return body


def post_raw(client, url, body: bytes, content_type="application/json", **extra):
    return client.generic("POST", url, body, content_type=content_type, **extra)


@pytest.mark.parametrize("url", [PREDICT, TRAIN])
def test_it_refuses_a_body_over_the_limit_with_413(analyst, url):
    body = json.dumps({"model": "x", "pad": "a" * (11 * 1024 * 1024)}).encode()
    response = post_raw(token_client(analyst), url, body)
    message = assert_error_shape(response, 413)["error"]
    assert "larger than 10 MB" in message


def test_it_refuses_by_the_declared_length_before_reading(analyst, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = post_raw(
        token_client(analyst), PREDICT, b"{}", CONTENT_LENGTH=str(10 * 1024 * 1024)
    )
    assert_error_shape(response, 413)


@pytest.mark.parametrize("url", [PREDICT, TRAIN])
def test_it_refuses_json_nested_too_deep(analyst, url):
    body = b'{"row": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    response = post_raw(token_client(analyst), url, body)
    body = assert_error_shape(response, 400)
    assert "the JSON nests deeper than 64 levels" in body["error"]


def test_nesting_under_the_bound_is_parsed(analyst):
    nested = {"a": 1}
    for _ in range(60):
        nested = {"a": nested}
    response = post_raw(
        token_client(analyst), PREDICT, json.dumps({"row": nested}).encode()
    )
    body = assert_error_shape(response, 400)
    assert "nests deeper" not in body["error"]
    assert body["fields"] == {"model": ["This field is required."]}


def test_nesting_just_over_the_bound_is_refused(analyst):
    nested: object = 1
    for _ in range(65):
        nested = [nested]
    response = post_raw(
        token_client(analyst), PREDICT, json.dumps({"rows": nested}).encode()
    )
    assert "nests deeper than 64" in assert_error_shape(response, 400)["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"model": ', "The body is not valid JSON: Expecting value: line 1"),
        (b'{"model": NaN}', "The body is not valid JSON: NaN is not a JSON value"),
        (b"\xff\xfe", "The body is not valid JSON: it is not utf-8 text."),
        (b"[1, 2]", "The body must be a JSON object, got a list."),
        (b"null", "The body must be a JSON object, got null."),
        (b'"text"', "The body must be a JSON object, got a string."),
        (b"7", "The body must be a JSON object, got a number."),
    ],
)
def test_it_refuses_bodies_that_are_not_a_json_object(analyst, body, message):
    response = post_raw(token_client(analyst), PREDICT, body)
    assert assert_error_shape(response, 400)["error"].startswith(message)


def test_json_bodies_only_except_for_the_upload(analyst):
    response = token_client(analyst).post(PREDICT, {"model": "penguins"})
    assert "Unsupported media type" in assert_error_shape(response, 415)["error"]


def test_the_dataset_upload_still_takes_multipart(analyst):
    from mlframework.core import demo

    response = token_client(analyst).post(
        "/api/registry/datasets/",
        {"file": SimpleUploadedFile("penguins.csv", demo.CSV.read_bytes())},
    )
    assert response.status_code == 201, response.content


def test_django_request_limits_on_multipart_answer_json(analyst, settings):
    from mlframework.core import demo

    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 2
    response = token_client(analyst).post(
        "/api/registry/datasets/",
        {
            "file": SimpleUploadedFile("penguins.csv", demo.CSV.read_bytes()),
            "name": "p",
            "a": "1",
            "b": "2",
        },
    )
    body = assert_error_shape(response, 400)
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in body["error"]

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = token_client(analyst).post(
        "/api/registry/datasets/",
        {
            "file": SimpleUploadedFile("penguins.csv", demo.CSV.read_bytes()),
            "name": "p" * 2000,
        },
    )
    assert_error_shape(response, 413)


def test_nested_field_errors_are_named_never_a_repr(analyst):
    response = token_client(analyst).post(
        TRAIN,
        {"dataset": 1, "model_name": "m", "label": "y", "excluded": ["a", None]},
        content_type="application/json",
    )
    body = assert_error_shape(response, 400)
    assert body["fields"]["excluded[1]"] == ["This field may not be null."]
    assert "ErrorDetail" not in response.content.decode()


@pytest.mark.parametrize(
    "url", ["/api/nope/", "/api/registry/nope/", "/api/showroom/predict/x/"]
)
def test_unknown_api_urls_are_json_404(analyst, url):
    for client in (Client(), token_client(analyst)):
        body = assert_error_shape(client.get(url), 404)
        assert url in body["error"]


def test_unknown_pages_outside_the_api_stay_html(admin_client_):
    response = admin_client_.get("/nope/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_wrong_methods_and_missing_tokens_have_the_shape(analyst):
    assert_error_shape(token_client(analyst).get(PREDICT), 405)
    assert_error_shape(Client().get("/api/registry/models/"), 401)
    bad = Client(HTTP_AUTHORIZATION="Token nope")
    assert_error_shape(bad.get("/api/registry/models/"), 401)


def test_the_schema_refuses_anonymous_callers_in_json(db):
    for query in ("", "?format=yaml", "?format=json"):
        body = assert_error_shape(Client().get(f"/api/schema/{query}"), 401)
        assert "credentials" in body["error"]


def test_the_schema_is_still_yaml_or_json_for_a_user(viewer):
    client = token_client(viewer)
    yaml = client.get("/api/schema/")
    assert yaml.status_code == 200
    assert yaml["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.content.startswith(b"openapi:")
    assert client.get("/api/schema/?format=json").json()["openapi"]
    assert_error_shape(client.get("/api/schema/?format=xml"), 404)


class Crash(APIView):
    permission_classes = []

    def get(self, request):
        raise RuntimeError("secret internals /etc/shadow")


def crash_outside_drf(request):
    raise RuntimeError("secret internals /etc/shadow")


urlpatterns = [
    path("api/test-crash/", Crash.as_view()),
    path("api/test-crash-django/", crash_outside_drf),
    *project_urls.urlpatterns,
]
handler404 = project_urls.handler404
handler500 = project_urls.handler500


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("url", ["/api/test-crash/", "/api/test-crash-django/"])
def test_an_unexpected_error_is_a_logged_json_500(admin_client_, url, caplog):
    admin_client_.raise_request_exception = False
    with caplog.at_level(logging.ERROR):
        response = admin_client_.get(url)
    body = assert_error_shape(response, 500)
    assert "server log" in body["error"]
    assert b"secret" not in response.content and b"Traceback" not in response.content
    assert any(
        record.exc_info and "secret internals" in str(record.exc_info[1])
        for record in caplog.records
    )


def test_the_depth_check_does_not_recurse():
    deep: object = 0
    for _ in range(100_000):
        deep = [deep]
    assert parsers._too_deep(deep, 64)
    assert not parsers._too_deep({"a": [{"b": [1, 2]}]}, 4)
    assert parsers._too_deep({"a": [{"b": [1, 2]}]}, 3)
