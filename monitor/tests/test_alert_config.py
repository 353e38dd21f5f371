"""The alerts: and email: sections of config.yaml."""

from pathlib import Path

import pytest
import yaml

from mlframework.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = {
    "databases": {
        "default": {"engine": "sqlite", "name": "var/db.sqlite3"},
        "events": {"engine": "sqlite", "name": "var/events.sqlite3"},
    }
}


def load(tmp_path, **sections):
    file = tmp_path / "config.yaml"
    file.write_text(yaml.safe_dump({**MINIMAL, **sections}))
    return load_config(file, environ={})


def error_for(tmp_path, **sections):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, **sections)
    return str(caught.value)


def test_the_shipped_config_documents_alerts_and_email():
    config = load_config(ROOT / "config.yaml", environ={})
    assert config.alerts.email_to == []
    assert config.alerts.webhook_url == ""
    assert config.alerts.consecutive_failures == 3
    assert config.email.backend == "console"


def test_defaults_apply_when_the_sections_are_missing(tmp_path):
    config = load(tmp_path)
    assert config.alerts.down_grace_minutes == 5
    assert config.alerts.low_rows_fraction == 0.2
    assert config.email.port == 25


def test_it_reads_every_alert_setting(tmp_path):
    config = load(
        tmp_path,
        alerts={
            "email_to": ["ops@example.com"],
            "webhook_url": "http://127.0.0.1:9/hook",
            "consecutive_failures": 2,
            "low_rows_fraction": 0.5,
            "low_rows_history": 4,
            "down_grace_minutes": 0,
        },
        email={"backend": "smtp", "host": "127.0.0.1", "port": 2525},
    )
    assert config.alerts.email_to == ["ops@example.com"]
    assert config.alerts.consecutive_failures == 2
    assert config.email.backend == "smtp" and config.email.port == 2525


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        (
            "alerts",
            "email_to",
            ["not-an-address"],
            "alerts.email_to[0] is not an e-mail",
        ),
        ("alerts", "webhook_url", "ftp://x/y", "alerts.webhook_url must be an http"),
        ("alerts", "webhook_timeout", 0, "alerts.webhook_timeout must be between"),
        ("alerts", "consecutive_failures", 0, "alerts.consecutive_failures must be"),
        ("alerts", "low_rows_fraction", 1.5, "alerts.low_rows_fraction must be"),
        ("alerts", "low_rows_history", 1, "alerts.low_rows_history must be at least"),
        ("alerts", "down_grace_minutes", -1, "alerts.down_grace_minutes must not be"),
        ("alerts", "consecutive_failures", "many", "must be a whole number"),
        ("email", "backend", "pigeon", "email.backend must be one of console, smtp"),
        ("email", "port", 0, "email.port must be a port between 1 and 65535"),
        ("email", "timeout", 0, "email.timeout must be at least 1"),
    ],
)
def test_it_names_the_bad_key(tmp_path, section, key, value, message):
    assert message in error_for(tmp_path, **{section: {key: value}})


def test_tls_and_ssl_exclude_each_other(tmp_path):
    message = error_for(tmp_path, email={"use_tls": True, "use_ssl": True})
    assert message == "config.yaml: email.use_ssl cannot be true together with use_tls"


def test_the_smtp_password_comes_from_the_environment(tmp_path):
    file = tmp_path / "config.yaml"
    file.write_text(yaml.safe_dump({**MINIMAL, "email": {"password": "${SMTP_PWD}"}}))
    config = load_config(file, environ={"SMTP_PWD": "s3cret-pass"})
    assert config.email.password == "s3cret-pass"


def test_django_mail_settings_follow_the_config():
    # The module itself: pytest-django swaps the live EMAIL_BACKEND for locmem.
    from mlframework import settings as module

    email = module.CONFIG.email
    assert email.BACKENDS[email.backend] == module.EMAIL_BACKEND
    assert email.port == module.EMAIL_PORT
    assert module.CONFIG.alerts.email_from == module.DEFAULT_FROM_EMAIL
