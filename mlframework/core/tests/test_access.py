"""Every page needs a login, except the health endpoint and the login page."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

pytestmark = pytest.mark.django_db(databases=["default", "events"])

# /metrics answers without a login, but only to metrics.allowed_ips (the test
# client's 127.0.0.1) or its token: mlframework/metrics/tests/test_access.py.
OPEN = {"/healthz", "/metrics", "/accounts/login/", "/admin/login/"}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def concrete(pattern: str) -> str:
    """Turn a pattern into a path, filling parameters with plausible values."""
    path = pattern.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\", "")
    path = re.sub(r"<(?:int:)?\w+>", "1", path)
    path = re.sub(r"<(?:path|str|slug):\w+>", "x", path)
    path = re.sub(r"<uuid:\w+>", "00000000-0000-0000-0000-000000000000", path)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", path)
    path = re.sub(r"[()?*+|]", "", path)
    return "/" + path


ALL_PATHS = sorted({concrete(p) for p in _walk(get_resolver().url_patterns)})


@pytest.mark.slow
def test_the_sweep_sees_every_app():
    for prefix in ("/models/", "/showroom/", "/dispatches/", "/monitor/", "/events/"):
        assert prefix in ALL_PATHS
    assert len(ALL_PATHS) > 40  # the admin's pages are in the sweep too


@pytest.mark.parametrize("path", [p for p in ALL_PATHS if p not in OPEN])
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_users_are_refused(client, path, method):
    response = getattr(client, method)(path)
    if response.status_code in (301, 302):
        target = response.headers["Location"]
        assert "login" in target, f"{path} redirects to {target}, not to a login"
    else:
        assert response.status_code in (401, 403, 404, 405), (
            f"{method.upper()} {path} answered {response.status_code} to anonymous"
        )
    assert b"Welcome" not in response.content


def test_the_login_page_and_health_are_open(client):
    assert client.get(reverse("login")).status_code == 200
    assert client.get(reverse("healthz")).status_code in (200, 503)


def test_a_logged_in_user_reaches_home(viewer_client):
    response = viewer_client.get(reverse("home"))
    assert response.status_code == 200
    assert b"Welcome" in response.content


def test_login_logs_in_and_logout_needs_post(client, viewer):
    response = client.post(
        reverse("login"),
        {"username": "vera", "password": "correct horse battery staple"},
    )
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_a_wrong_password_is_refused_with_a_message(client, viewer):
    response = client.post(reverse("login"), {"username": "vera", "password": "nope"})
    assert response.status_code == 200
    assert b"did not match" in response.content
    assert client.get(reverse("home")).status_code == 302


def test_posts_need_a_csrf_token(viewer):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(viewer)
    assert strict.post(reverse("logout")).status_code == 403
