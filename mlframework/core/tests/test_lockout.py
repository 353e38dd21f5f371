"""Login throttling (django-axes): the login page, the admin and API tokens."""

import datetime as dt
import json
from io import StringIO

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.db import connections, router
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from conftest import PASSWORD
from mlframework.config import ConfigError, load_config
from mlframework.core import lockout
from mlframework.core.lockout import TOKEN_USERNAME, client_address
from mlframework.events.models import Event

pytestmark = pytest.mark.django_db(databases=["default", "events"])

HERE = "10.0.0.1"
THERE = "10.0.0.2"
WRONG = "wrong-password-do-not-log"
MODELS_API = "/api/registry/models/"


def login(username, password, address=HERE, url=None):
    client = Client(REMOTE_ADDR=address)
    response = client.post(
        url or reverse("login"), {"username": username, "password": password}
    )
    return client, response


def fail_until_locked(username, address=HERE, url=None):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _, response = login(username, WRONG, address, url)
        assert response.status_code == 200  # the form again, with its error
    _, response = login(username, WRONG, address, url)
    return response


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def auth_events(kind=None):
    events = Event.objects.using("events").filter(source="auth").order_by("created")
    return list(events.filter(kind=kind) if kind else events)


def api_get(token_key, address=HERE):
    client = Client(REMOTE_ADDR=address)
    return client.get(MODELS_API, HTTP_AUTHORIZATION=f"Token {token_key}")


def test_wrong_passwords_lock_that_user_out_from_that_address(viewer):
    response = fail_until_locked("vera")
    assert response.status_code == 429
    body = response.content.decode()
    assert "Locked out" in body
    assert f"locked out for {settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in body
    assert 'href="/static/mlframework/site.css"' in body  # the site's own page
    assert response["Retry-After"] == str(settings.AXES_COOLOFF_TIME.seconds)


def test_the_right_password_is_refused_while_locked_out(viewer):
    fail_until_locked("vera")
    client, response = login("vera", PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)


def test_another_address_or_another_user_still_logs_in(viewer, analyst):
    fail_until_locked("vera")
    client, response = login("vera", PASSWORD, address=THERE)
    assert response.status_code == 302 and logged_in(client)
    client, response = login("ana", PASSWORD, address=HERE)
    assert response.status_code == 302 and logged_in(client)


def test_failures_below_the_limit_are_forgotten_after_a_login(viewer):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login("vera", WRONG)
    assert login("vera", PASSWORD)[1].status_code == 302
    _, response = login("vera", WRONG)
    assert response.status_code == 200  # counting starts again


def test_the_lockout_expires_after_the_configured_minutes(viewer):
    with time_machine.travel(dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)) as t:
        fail_until_locked("vera")
        t.shift(settings.AXES_COOLOFF_TIME - dt.timedelta(minutes=1))
        assert login("vera", PASSWORD)[1].status_code == 429
        # Refused attempts while locked did not prolong it.
        t.shift(dt.timedelta(minutes=1, seconds=1))
        client, response = login("vera", PASSWORD)
        assert response.status_code == 302 and logged_in(client)


def test_the_admin_login_is_throttled_too(superuser):
    url = reverse("admin:login")
    response = fail_until_locked("root", url=url)
    assert response.status_code == 429
    client, response = login("root", PASSWORD, url=url)
    assert response.status_code == 429 and not logged_in(client)


def test_wrong_api_tokens_lock_that_address_out(viewer):
    token = Token.objects.create(user=viewer)
    assert api_get(token.key).status_code == 200
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = api_get("0" * 40)
        assert response.status_code == 401
        assert response.json() == {"error": "Invalid token.", "fields": {}}
    response = api_get("0" * 40)
    assert response.status_code == 429
    body = response.json()
    assert body["fields"] == {} and "locked out for" in body["error"]
    assert response["Retry-After"] == str(settings.AXES_COOLOFF_TIME.seconds)
    # The right token from that address is refused too; elsewhere it works.
    assert api_get(token.key).status_code == 429
    assert api_get(token.key, address=THERE).status_code == 200


@pytest.fixture
def no_token_failures(monkeypatch):
    """No token failure recorded by any process (no marker, none in memory)."""
    lockout.failure_marker().unlink(missing_ok=True)
    monkeypatch.setattr(lockout, "_last_failure", None)


def axes_queries(token_key, address=HERE) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connections["default"]) as queries:
        status = api_get(token_key, address).status_code
    return status, [q["sql"] for q in queries if "axes_accessattempt" in q["sql"]]


def test_a_valid_token_skips_the_lockout_query_when_no_token_failed(
    viewer, no_token_failures
):
    token = Token.objects.create(user=viewer)
    assert axes_queries(token.key) == (200, [])
    assert api_get("0" * 40).status_code == 401
    # A token failed: from now on (for the cool-off) axes is asked first.
    status, asked = axes_queries(token.key)
    assert status == 200 and asked


def test_a_token_lockout_recorded_by_another_process_still_refuses(
    viewer, no_token_failures, monkeypatch
):
    token = Token.objects.create(user=viewer)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        api_get("0" * 40)
    # This process forgets; the marker file every process touches remains.
    monkeypatch.setattr(lockout, "_last_failure", None)
    assert lockout.failure_marker().is_file()
    assert api_get(token.key).status_code == 429
    assert api_get(token.key, address=THERE).status_code == 200


def test_the_token_user_name_typed_in_the_login_form_locks_tokens_too(
    viewer, no_token_failures, monkeypatch
):
    token = Token.objects.create(user=viewer)
    assert fail_until_locked(TOKEN_USERNAME).status_code == 429
    monkeypatch.setattr(lockout, "_last_failure", None)
    assert api_get(token.key).status_code == 429


def test_a_token_failure_older_than_the_cool_off_is_not_asked_about(
    viewer, no_token_failures
):
    token = Token.objects.create(user=viewer)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        api_get("0" * 40)
    assert api_get(token.key).status_code == 429
    with time_machine.travel(dt.datetime.now(dt.UTC) + settings.AXES_COOLOFF_TIME):
        lockout._last_failure = None
        # Past the cool-off axes would allow it too; it is not even asked.
        assert axes_queries(token.key) == (200, [])


def test_a_token_finds_its_own_user_and_refuses_an_inactive_one(viewer, analyst):
    token = Token.objects.create(user=analyst)
    Token.objects.create(user=viewer)
    user, found = lockout.LockoutTokenAuthentication().authenticate_credentials(
        token.key
    )
    assert (user.pk, user.username, user.is_active) == (analyst.pk, "ana", True)
    assert user.date_joined == analyst.date_joined  # a real, aware datetime
    assert (found.key, found.user) == (token.key, user)
    analyst.is_active = False
    analyst.save()
    response = api_get(token.key)
    assert response.status_code == 401
    assert response.json()["error"] == "User inactive or deleted."
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        lockout.LockoutTokenAuthentication().authenticate_credentials(lockout._ANY_KEY)


def test_a_token_lockout_leaves_password_logins_alone(viewer):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        api_get("0" * 40)
    assert AccessAttempt.objects.get().username == TOKEN_USERNAME
    client, response = login("vera", PASSWORD)
    assert response.status_code == 302 and logged_in(client)
    # ...and a browser session's API calls from that address.
    assert client.get(MODELS_API).status_code == 200


def test_each_failure_and_the_lockout_are_events_without_the_password(viewer):
    fail_until_locked("vera")
    login("vera", PASSWORD)  # refused while locked
    failures = auth_events("auth.login_failed")
    assert len(failures) == settings.AXES_FAILURE_LIMIT + 1
    assert failures[0].data == {
        "username": "vera",
        "address": HERE,
        "path": "/accounts/login/",
    }
    assert failures[0].level == "warning"
    lockouts = auth_events("auth.locked_out")
    assert len(lockouts) == 2  # when it locked, and the refused attempt
    assert lockouts[0].data["username"] == "vera"
    assert lockouts[0].data["minutes"] == settings.AXES_COOLOFF_TIME.seconds // 60
    for event in auth_events():
        text = event.message + json.dumps(event.data)
        assert WRONG not in text and PASSWORD not in text


def test_wrong_tokens_are_events_without_the_token(viewer):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        api_get("secret-token-" + "1" * 27)
    events = auth_events()
    assert [e.kind for e in events].count("auth.login_failed") == 5
    assert [e.kind for e in events].count("auth.locked_out") == 1
    for event in events:
        assert "secret-token" not in event.message + json.dumps(event.data)
        assert event.data["address"] == HERE


def test_an_admin_unlocks_in_the_admin(viewer, admin_client_):
    fail_until_locked("vera")
    changelist = reverse("admin:axes_accessattempt_changelist")
    page = admin_client_.get(changelist + "?locked_out=yes")
    assert page.status_code == 200 and "vera" in page.content.decode()
    attempt = AccessAttempt.objects.get(username="vera")
    response = admin_client_.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    client, response = login("vera", PASSWORD)
    assert response.status_code == 302 and logged_in(client)


def test_an_admin_unlocks_with_a_command(viewer, analyst):
    fail_until_locked("vera")
    fail_until_locked("ana")
    out = StringIO()
    call_command("axes_reset_username", "vera", stdout=out)
    assert login("vera", PASSWORD)[1].status_code == 302
    assert login("ana", PASSWORD)[1].status_code == 429
    call_command("axes_reset", stdout=out)
    assert login("ana", PASSWORD)[1].status_code == 302


def test_a_non_staff_user_cannot_unlock(viewer_client):
    response = viewer_client.get(reverse("admin:axes_accessattempt_changelist"))
    assert response.status_code == 302  # to the admin's login


def test_behind_the_tls_proxy_the_address_is_the_one_the_proxy_added(settings, rf):
    request = rf.get(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 10.9.8.7"
    )
    assert client_address(request) == "127.0.0.1"  # plain http: no proxy trusted
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client_address(request) == "10.9.8.7"  # a client can only prepend
    assert client_address(rf.get("/", REMOTE_ADDR="127.0.0.1")) == "127.0.0.1"


MINIMAL = {
    "databases": {
        "default": {"engine": "sqlite", "name": "var/db.sqlite3"},
        "events": {"engine": "sqlite", "name": "var/events.sqlite3"},
    }
}


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("login_failure_limit", 0, "must be between 1 and 1000"),
        ("login_failure_limit", "many", "must be a whole number"),
        ("lockout_minutes", 0, "must be between 1 and 10080"),
        ("lockout_minutes", 20000, "must be between 1 and 10080"),
    ],
)
def test_it_refuses_bad_throttling_keys(tmp_path, key, value, problem):
    file = tmp_path / "config.yaml"
    file.write_text(json.dumps({**MINIMAL, "web": {key: value}}))
    with pytest.raises(ConfigError, match=rf"config.yaml: web.{key} {problem}"):
        load_config(file, environ={})


def test_the_throttling_keys_have_defaults_and_reach_axes(tmp_path):
    file = tmp_path / "config.yaml"
    file.write_text(json.dumps(MINIMAL))
    web = load_config(file, environ={}).web
    assert (web.login_failure_limit, web.lockout_minutes) == (5, 15)
    assert settings.CONFIG.web.login_failure_limit == settings.AXES_FAILURE_LIMIT
    assert (
        dt.timedelta(minutes=settings.CONFIG.web.lockout_minutes)
        == settings.AXES_COOLOFF_TIME
    )
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"


def test_the_attempts_live_in_the_default_database():
    assert router.db_for_write(AccessAttempt) == "default"
    assert router.allow_migrate("events", "axes") is False
    assert router.allow_migrate("default", "axes") is not False
