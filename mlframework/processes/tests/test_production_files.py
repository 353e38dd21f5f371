"""The shipped systemd units and nginx site, checked by systemd and nginx."""

import shlex
import shutil
import subprocess
from configparser import ConfigParser
from pathlib import Path

import pytest

from conftest import require_service
from mlframework.processes.supervisor import web_program, worker_program

ROOT = Path(__file__).resolve().parents[3]
UNITS = ["mlframework-web.service", "mlframework-worker.service"]
SITE = ROOT / "ops/nginx/mlframework.conf"


def _unit(name: str) -> ConfigParser:
    parser = ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(ROOT / "ops/systemd" / name)
    return parser


def _installed_copy(tmp_path: Path, name: str, change=lambda text: text) -> Path:
    """The unit as installed in this checkout (/srv/mlframework is here), so
    systemd can check that what it starts exists."""
    text = (ROOT / "ops/systemd" / name).read_text()
    path = tmp_path / name
    path.write_text(change(text.replace("/srv/mlframework", str(ROOT))))
    return path


def _verify(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["systemd-analyze", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def systemd_analyze():
    require_service(shutil.which("systemd-analyze") is not None, "systemd-analyze")


@pytest.mark.parametrize("name", UNITS)
def test_systemd_finds_nothing_wrong_with_the_units(systemd_analyze, tmp_path, name):
    done = _verify(_installed_copy(tmp_path, name))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""


def test_systemd_verify_reports_a_broken_unit(systemd_analyze, tmp_path):
    # The check above can fail: a wrong value is reported.
    broken = _installed_copy(
        tmp_path,
        UNITS[0],
        lambda text: text.replace("Restart=on-failure", "Restart=sometimes"),
    )
    assert "restart specifier" in _verify(broken).stderr


@pytest.mark.parametrize("name", UNITS)
def test_the_units_restart_run_unprivileged_with_private_tmp_and_the_config(name):
    service = _unit(name)["Service"]
    assert service["Restart"] == "on-failure"
    assert service["User"] == service["Group"] == "mlframework"
    assert service["PrivateTmp"] == "true"
    assert service["Environment"] == "MLFRAMEWORK_CONFIG=/etc/mlframework/config.yaml"
    assert service["WorkingDirectory"] == "/srv/mlframework"
    assert _unit(name)["Install"]["WantedBy"] == "multi-user.target"


def test_the_web_unit_runs_gunicorn_as_make_run_does():
    argv = shlex.split(_unit(UNITS[0])["Service"]["ExecStart"])
    python = "/srv/mlframework/.venv/bin/python"
    assert argv == web_program("127.0.0.1:8000", python=python).argv


def test_the_worker_unit_runs_the_task_worker_as_make_run_does():
    argv = shlex.split(_unit(UNITS[1])["Service"]["ExecStart"])
    expected = worker_program("/srv/mlframework/.venv/bin/python").argv
    assert argv[0] == expected[0] and argv[1] == "manage.py"
    assert argv[2:] == expected[2:]


def test_the_site_forwards_what_django_trusts_behind_tls():
    from mlframework.config import TrainingConfig

    text = SITE.read_text()
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in text
    assert "proxy_set_header Host $host;" in text
    assert "server 127.0.0.1:8000;" in text
    assert "return 301 https://$host$request_uri;" in text
    assert f"client_max_body_size {TrainingConfig().max_upload_mb}m;" in text


def test_nginx_accepts_the_site(tmp_path):
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    require_service(
        nginx is not None,
        "nginx (Debian's package, in ops/install_system.sh --test)",
    )
    key, cert = tmp_path / "privkey.pem", tmp_path / "fullchain.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=ml.example.com",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    site = tmp_path / "site.conf"
    site.write_text(
        SITE.read_text()
        .replace("/etc/ssl/mlframework/privkey.pem", str(key))
        .replace("/etc/ssl/mlframework/fullchain.pem", str(cert))
    )
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\nhttp {\n"
        f"  access_log off;\n  client_body_temp_path {tmp_path}/body;\n"
        f"  proxy_temp_path {tmp_path}/proxy;\n  include {site};\n}}\n"
    )
    done = subprocess.run(
        [
            nginx,
            "-t",
            "-p",
            str(tmp_path),
            "-e",
            str(tmp_path / "error.log"),
            "-c",
            str(main),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def test_the_test_packages_include_nginx():
    script = (ROOT / "ops/install_system.sh").read_text()
    [line] = [row for row in script.splitlines() if row.startswith("test=(")]
    assert "nginx" in line.removeprefix("test=(").removesuffix(")").split()


def test_the_readme_installs_them_step_by_step():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Running in production", 1)[1].split("\n## ", 1)[0]
    for needed in [
        "ops/systemd/mlframework-web.service",
        "ops/systemd/mlframework-worker.service",
        "ops/nginx/mlframework.conf",
        "systemctl enable --now",
        "useradd",
        "web.https: true",
        "nginx -t",
    ]:
        assert needed in section, needed
