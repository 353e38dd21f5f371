"""Behind TLS: web.https turns on secure cookies, HSTS, the redirect, the proxy
header, and `manage.py check --deploy` is then clean. Without it, plain http."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[3]
# Runs in a fresh interpreter, so that settings are built from the file.
PROBE = """
import json, django
from django.conf import settings
from django.test import Client, override_settings
django.setup()
# No collectstatic here: static URLs without the manifest.
plain_static = {**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
with override_settings(STORAGES=plain_static):
    plain = Client().get("/accounts/login/")
    proxied = Client().get("/accounts/login/", headers={"x-forwarded-proto": "https"})
print(json.dumps({
    "settings": {key: getattr(settings, key) for key in (
        "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_SSL_REDIRECT",
        "SECURE_PROXY_SSL_HEADER")},
    "plain": [plain.status_code, plain.get("Location", "")],
    "proxied": [
        proxied.status_code,
        proxied.get("Strict-Transport-Security", ""),
        proxied.cookies["csrftoken"]["secure"] if "csrftoken" in proxied.cookies
        else None,
    ],
}))
"""


def config_file(tmp_path, **web):
    var = tmp_path / "var"
    raw = {
        "paths": {
            key: str(var / key)
            for key in ("datasets", "models", "spool", "locks", "logs")
        }
        | {"var": str(var), "static_root": str(var / "static")},
        "web": {"allowed_hosts": ["testserver"], **web},
        "databases": {
            "default": {"engine": "sqlite", "name": str(var / "db.sqlite3")},
            "events": {"engine": "sqlite", "name": str(var / "events.sqlite3")},
        },
        "cron": {"log_dir": str(var / "logs")},
    }
    for key in ("datasets", "models", "spool", "locks", "logs", "static"):
        (var / key).mkdir(parents=True, exist_ok=True)
    file = tmp_path / "config.yaml"
    file.write_text(yaml.safe_dump(raw))
    return file


def run(args, file):
    env = {"PATH": "/usr/bin:/bin", "MLFRAMEWORK_CONFIG": str(file)}
    env["DJANGO_SETTINGS_MODULE"] = "mlframework.settings"
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


HTTPS = {"https": True, "debug": False, "secret_key": "s3cr3t-" + "x" * 60}


@pytest.mark.slow
def test_check_deploy_is_clean_with_https(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        config_file(tmp_path, **HTTPS),
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
def test_check_deploy_warns_without_https(tmp_path):
    # The warnings web.https exists for, so the test above can fail.
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        config_file(tmp_path, **{**HTTPS, "https": False}),
    )
    assert result.returncode != 0
    for code in ("W004", "W008", "W012", "W016"):
        assert f"security.{code}" in result.stderr


@pytest.mark.slow
def test_https_secures_cookies_and_redirects_plain_http(tmp_path):
    result = run(["-c", PROBE], config_file(tmp_path, **HTTPS))
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["settings"] == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 365 * 24 * 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }
    assert probe["plain"] == [301, "https://testserver/accounts/login/"]
    status, hsts, secure_cookie = probe["proxied"]
    assert status == 200
    assert hsts == "max-age=31536000; includeSubDomains"
    assert secure_cookie is True


@pytest.mark.slow
def test_without_https_the_site_answers_plain_http(tmp_path):
    result = run(["-c", PROBE], config_file(tmp_path))
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["settings"]["SECURE_SSL_REDIRECT"] is False
    assert probe["settings"]["SESSION_COOKIE_SECURE"] is False
    assert probe["plain"] == [200, ""]


@pytest.mark.parametrize("value", ["yes", 1])
def test_it_refuses_a_web_https_that_is_not_true_or_false(tmp_path, value):
    result = run(["manage.py", "check"], config_file(tmp_path, https=value))
    assert result.returncode != 0
    assert "config.yaml: web.https must be true or false" in result.stderr


def test_the_tests_run_on_plain_http():
    assert settings.SECURE_SSL_REDIRECT is False
    assert settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"] == ["'self'"]
