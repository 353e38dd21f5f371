"""The metrics: section of config.yaml and retention.api_requests_days."""

import ipaddress
from pathlib import Path

import pytest

from mlframework.config import load_config
from mlframework.core.tests.test_config import MINIMAL, error_for, with_, write

ROOT = Path(__file__).resolve().parents[3]


def test_the_shipped_config_allows_loopback_only_and_no_token():
    config = load_config(ROOT / "config.yaml", environ={})
    assert config.metrics.allowed_ips == ["127.0.0.1", "::1"]
    assert config.metrics.token == ""
    assert config.retention.api_requests_days == 90


def test_a_minimal_config_gets_the_same_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.metrics.allowed_ips == ["127.0.0.1", "::1"]
    assert config.metrics.token == ""


def test_the_token_comes_from_the_environment(tmp_path):
    data = with_(MINIMAL, "metrics.token", "${METRICS_TOKEN}")
    config = load_config(
        write(tmp_path, data), environ={"METRICS_TOKEN": "a-long-enough-token-123"}
    )
    assert config.metrics.token == "a-long-enough-token-123"


def test_an_unset_token_variable_names_the_key(tmp_path):
    data = with_(MINIMAL, "metrics.token", "${METRICS_TOKEN}")
    assert error_for(tmp_path, data) == (
        "config.yaml: metrics.token uses ${METRICS_TOKEN} but the environment "
        "variable METRICS_TOKEN is not set"
    )


def test_networks_are_parsed(tmp_path):
    data = with_(MINIMAL, "metrics.allowed_ips", ["10.0.0.0/8", "2001:db8::/32", "::1"])
    config = load_config(write(tmp_path, data), environ={})
    assert config.metrics.networks() == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("2001:db8::/32"),
        ipaddress.ip_network("::1/128"),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            ["127.0.0.1", "localhost"],
            "metrics.allowed_ips[1] is not an IP address or network (CIDR): "
            "'localhost'",
        ),
        (["10.0.0.0/33"], "metrics.allowed_ips[0] is not an IP address or network"),
        ("127.0.0.1", "metrics.allowed_ips must be a list"),
    ],
)
def test_a_bad_address_names_its_entry(tmp_path, value, message):
    data = with_(MINIMAL, "metrics.allowed_ips", value)
    assert error_for(tmp_path, data).startswith(f"config.yaml: {message}")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("short", "metrics.token must be at least 16 printable ASCII characters"),
        ("sixteen-chars-and\nnewline", "metrics.token must be at least 16"),
        ("sixteen-characters-ünïcode", "metrics.token must be at least 16"),
        (" a-long-enough-token-123 ", "metrics.token must not start or end"),
    ],
)
def test_a_weak_or_odd_token_is_refused(tmp_path, token, message):
    data = with_(MINIMAL, "metrics.token", token)
    assert error_for(tmp_path, data).startswith(f"config.yaml: {message}")


def test_an_unknown_metrics_key_is_named(tmp_path):
    data = with_(MINIMAL, "metrics.allowed_ip", ["127.0.0.1"])
    assert error_for(tmp_path, data).startswith(
        "config.yaml: metrics.allowed_ip is not a known key"
    )


@pytest.mark.parametrize("days", [-1, 36_501])
def test_the_api_requests_age_is_bounded(tmp_path, days):
    data = with_(MINIMAL, "retention.api_requests_days", days)
    assert error_for(tmp_path, data) == (
        "config.yaml: retention.api_requests_days must be between 0 and 36500 days"
    )
