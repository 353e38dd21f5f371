"""Who may read /metrics: configured addresses (CIDRs too) or the bearer token;
no login session needed, and a refusal shows nothing."""

import dataclasses

import pytest

from mlframework.config import MetricsConfig

pytestmark = pytest.mark.django_db(databases=["default", "events"])

TOKEN = "s3cret-metrics-token-0123456789"


@pytest.fixture
def metrics_config(settings):
    def use(**fields):
        settings.CONFIG = dataclasses.replace(
            settings.CONFIG, metrics=MetricsConfig(**fields)
        )

    return use


def _refused_quietly(response, status):
    assert response.status_code == status
    assert b"mlframework_" not in response.content
    assert len(response.content) < 50


def test_loopback_reads_it_without_a_session(client):
    response = client.get("/metrics")  # the test client comes from 127.0.0.1
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"mlframework_metrics_database_up 1.0" in response.content
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("address", ["::1", "::ffff:127.0.0.1"])
def test_ipv6_loopback_reads_it(client, address):
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == 200


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.9", "2001:db8::1", ""])
def test_it_refuses_other_addresses(client, address):
    _refused_quietly(client.get("/metrics", REMOTE_ADDR=address), 403)


def test_a_login_session_is_no_pass(viewer_client):
    _refused_quietly(viewer_client.get("/metrics", REMOTE_ADDR="10.1.2.3"), 403)


def test_a_configured_network_is_allowed_and_loopback_no_longer(client, metrics_config):
    metrics_config(allowed_ips=["10.0.0.0/8", "2001:db8::/32"])
    assert client.get("/metrics", REMOTE_ADDR="10.200.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::7").status_code == 200
    _refused_quietly(client.get("/metrics", REMOTE_ADDR="11.0.0.1"), 403)
    _refused_quietly(client.get("/metrics", REMOTE_ADDR="127.0.0.1"), 403)


def test_the_right_token_opens_it_from_anywhere(client, metrics_config):
    metrics_config(token=TOKEN)
    response = client.get(
        "/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )
    assert response.status_code == 200
    assert b"mlframework_dispatch_runs" in response.content


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer ",
        f"Token {TOKEN}",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN} extra",
    ],
)
def test_a_wrong_token_gets_401_even_from_loopback(client, metrics_config, header):
    metrics_config(token=TOKEN)
    response = client.get("/metrics", HTTP_AUTHORIZATION=header)
    _refused_quietly(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_a_missing_token_from_elsewhere_gets_403(client, metrics_config):
    metrics_config(token=TOKEN)
    _refused_quietly(client.get("/metrics", REMOTE_ADDR="10.1.2.3"), 403)


def test_no_token_is_accepted_when_none_is_configured(client, metrics_config):
    metrics_config(token="")
    response = client.get(
        "/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer "
    )
    _refused_quietly(response, 401)


def test_behind_the_proxy_the_address_is_the_one_the_proxy_added(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The client forged 127.0.0.1 first; the proxy appended the real address.
    forged = client.get(
        "/metrics",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="127.0.0.1, 203.0.113.5",
        HTTP_X_FORWARDED_PROTO="https",
        secure=True,
    )
    _refused_quietly(forged, 403)
    local = client.get(
        "/metrics",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="127.0.0.1",
        HTTP_X_FORWARDED_PROTO="https",
        secure=True,
    )
    assert local.status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_it_answers_only_get(client, method):
    assert getattr(client, method)("/metrics").status_code == 405
