import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlframework.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[3]
MINIMAL = {
    "databases": {
        "default": {"engine": "sqlite", "name": "var/db.sqlite3"},
        "events": {"engine": "sqlite", "name": "var/events.sqlite3"},
    }
}


def write(tmp_path, data, name="config.yaml"):
    file = tmp_path / name
    file.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return file


def with_(base, path, value):
    data = yaml.safe_load(yaml.safe_dump(base))
    node = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return data


def error_for(tmp_path, data, environ=None):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, data), environ=environ or {})
    return str(caught.value)


def test_the_shipped_config_loads_with_embedded_defaults():
    config = load_config(ROOT / "config.yaml", environ={})
    assert config.databases.default.engine == "sqlite"
    assert config.databases.events.engine == "sqlite"
    assert "demo" in config.datasources
    assert config.hosts[0].timeout == 10
    assert config.base_dir == ROOT
    assert config.path("var") == ROOT / "var"


def test_a_minimal_config_gets_the_documented_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.paths.models == "var/models"
    assert config.training.max_upload_mb == 2048
    assert config.showroom.max_rows == 100
    assert config.cron.timezone == "UTC"
    assert config.datasources == {}


def test_it_names_a_missing_required_key(tmp_path):
    data = {"databases": {"default": MINIMAL["databases"]["default"]}}
    assert error_for(tmp_path, data) == "config.yaml: databases.events is required"


def test_it_names_a_missing_datasource_connection(tmp_path):
    data = with_(MINIMAL, "datasources", {"sales": {"test_query": "SELECT 1"}})
    message = error_for(tmp_path, data)
    assert message == "config.yaml: datasources.sales.connection is required"


def test_it_names_an_unknown_key(tmp_path):
    message = error_for(tmp_path, with_(MINIMAL, "training.max_uplod_mb", 5))
    assert message.startswith("config.yaml: training.max_uplod_mb is not a known key")
    assert "max_upload_mb" in message


def test_it_names_an_unknown_top_level_key(tmp_path):
    message = error_for(tmp_path, with_(MINIMAL, "datasource", {}))
    assert message.startswith("config.yaml: datasource is not a known key")


def test_it_names_a_wrong_type(tmp_path):
    message = error_for(tmp_path, with_(MINIMAL, "showroom.max_rows", "many"))
    assert (
        message == "config.yaml: showroom.max_rows must be a whole number, not 'many'"
    )


def test_it_refuses_a_boolean_where_a_number_is_due(tmp_path):
    message = error_for(tmp_path, with_(MINIMAL, "training.min_rows", True))
    assert "training.min_rows must be a whole number" in message


def test_it_refuses_a_list_where_a_mapping_is_due(tmp_path):
    message = error_for(tmp_path, with_(MINIMAL, "datasources", ["a"]))
    assert message == "config.yaml: datasources must be a mapping"


@pytest.mark.parametrize("port", [0, 70000, -1])
def test_it_names_a_bad_host_port(tmp_path, port):
    data = with_(MINIMAL, "hosts", [{"name": "db", "host": "127.0.0.1", "port": port}])
    message = error_for(tmp_path, data)
    assert message == (
        f"config.yaml: hosts[0].port must be a port between 1 and 65535, not {port}"
    )


def test_it_names_a_bad_database_port(tmp_path):
    data = with_(
        MINIMAL,
        "databases.events",
        {"engine": "mysql", "name": "e", "host": "h", "port": 99999},
    )
    assert "databases.events.port must be a port" in error_for(tmp_path, data)


def test_host_timeout_defaults_to_ten_seconds(tmp_path):
    data = with_(MINIMAL, "hosts", [{"name": "db", "host": "::1", "port": 5432}])
    assert load_config(write(tmp_path, data), environ={}).hosts[0].timeout == 10.0


def test_it_refuses_repeated_host_names(tmp_path):
    host = {"name": "db", "host": "127.0.0.1", "port": 1}
    message = error_for(tmp_path, with_(MINIMAL, "hosts", [host, host]))
    assert message == "config.yaml: hosts[1].name repeats 'db'"


@pytest.mark.parametrize("key", ["cron.timezone", "web.time_zone"])
def test_it_names_a_bad_timezone(tmp_path, key):
    message = error_for(tmp_path, with_(MINIMAL, key, "Mars/Olympus"))
    assert message == f"config.yaml: {key} is not a known time zone: 'Mars/Olympus'"


def test_it_names_an_unresolved_variable(tmp_path):
    data = with_(
        MINIMAL,
        "datasources",
        {"sales": {"connection": "DRIVER={MariaDB Unicode};PWD=${SALES_PWD}"}},
    )
    message = error_for(tmp_path, data)
    assert message == (
        "config.yaml: datasources.sales.connection uses ${SALES_PWD} but the "
        "environment variable SALES_PWD is not set"
    )


def test_it_interpolates_variables_files_and_fallbacks(tmp_path):
    secret_file = tmp_path / "pwd"
    secret_file.write_text("from-file\n")
    data = with_(
        MINIMAL,
        "datasources",
        {
            "a": {"connection": "DRIVER={SQLite3};PWD=${A_PWD}"},
            "b": {"connection": "DRIVER={SQLite3};PWD=${B_PWD}"},
            "c": {"connection": "DRIVER={SQLite3};PWD=${C_PWD:-fallback}"},
        },
    )
    environ = {"A_PWD": "from-env", "B_PWD_FILE": str(secret_file)}
    config = load_config(write(tmp_path, data), environ=environ)
    assert config.datasources["a"].connection.endswith("PWD=from-env")
    assert config.datasources["b"].connection.endswith("PWD=from-file")
    assert config.datasources["c"].connection.endswith("PWD=fallback")


def test_a_number_can_come_from_a_variable(tmp_path):
    data = with_(MINIMAL, "showroom.max_rows", "${ROWS}")
    config = load_config(write(tmp_path, data), environ={"ROWS": "7"})
    assert config.showroom.max_rows == 7


def test_it_refuses_an_unknown_database_engine(tmp_path):
    data = with_(MINIMAL, "databases.default.engine", "oracle")
    message = error_for(tmp_path, data)
    assert message == (
        "config.yaml: databases.default.engine must be one of mysql, postgresql, sqlite"
    )


def test_mysql_needs_a_host(tmp_path):
    data = with_(MINIMAL, "databases.events", {"engine": "mysql", "name": "ev"})
    message = error_for(tmp_path, data)
    assert message == "config.yaml: databases.events.host is required for engine mysql"


def test_a_connection_must_name_a_driver(tmp_path):
    data = with_(MINIMAL, "datasources", {"x": {"connection": "Server=a"}})
    assert "datasources.x.connection must name a DRIVER" in error_for(tmp_path, data)


def test_it_reports_yaml_syntax_errors_with_the_line(tmp_path):
    file = write(tmp_path, "databases:\n  default: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config.yaml: is not valid YAML at line"):
        load_config(file, environ={})


def test_it_reports_a_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_the_values_are_frozen(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.web.debug = True


def test_start_up_stops_with_the_message(tmp_path):
    """A bad file stops manage.py before anything runs, naming file and key."""
    file = write(tmp_path, with_(MINIMAL, "hosts", [{"name": "a", "host": "x"}]))
    env = {**os.environ, "MLFRAMEWORK_CONFIG": str(file)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: config.yaml: hosts[0].port is required"


@pytest.mark.slow
def test_system_checks_report_an_unusable_path(tmp_path):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    data = with_(MINIMAL, "paths.models", str(blocker))
    data["web"] = {"secret_key": "k" * 40}
    file = write(tmp_path, data)
    env = {**os.environ, "MLFRAMEWORK_CONFIG": str(file)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "mlframework.E001" in result.stderr
    assert "paths.models" in result.stderr


@pytest.mark.django_db(databases=["default", "events"], transaction=True)
def test_a_subprocess_sees_the_test_databases(process_env):
    from django.contrib.auth.models import User

    User.objects.create_user("visible")
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.contrib.auth.models import User;"
            "print(User.objects.filter(username='visible').count())",
        ],
        cwd=ROOT,
        env=process_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("1")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"connection": "DRIVER={Acme ODBC};SERVER=x"},
            "datasources.s.engine is required: the driver 'Acme ODBC' has no known "
            "SQL dialect; set it to one of mssql, mysql, postgresql, sqlite",
        ),
        (
            {"connection": "DSN=sales;UID=ml"},
            "datasources.s.engine is required when the connection names no DRIVER",
        ),
        (
            {"connection": "DRIVER={SQLite3};Database=x", "engine": "oracle"},
            "datasources.s.engine must be auto or one of mssql, mysql",
        ),
        (
            {"connection": "DRIVER={SQLite3};Database=x", "query_timeout": 0},
            "datasources.s.query_timeout must be between 1 and 86400 seconds",
        ),
        (
            {"connection": "DRIVER={SQLite3};Database=x", "run_query_timeout": 10**6},
            "datasources.s.run_query_timeout must be between 1 and 86400 seconds",
        ),
    ],
)
def test_a_datasource_needs_an_engine_and_sane_timeouts(tmp_path, source, message):
    assert message in error_for(tmp_path, with_(MINIMAL, "datasources.s", source))


@pytest.mark.parametrize(
    ("connection", "engine", "expected"),
    [
        ("DRIVER={MariaDB Unicode};SERVER=db", "auto", "mysql"),
        ("DRIVER={PostgreSQL Unicode};SERVER=db", "auto", "postgresql"),
        ("DRIVER={ODBC Driver 18 for SQL Server};SERVER=db", "auto", "mssql"),
        ("DSN=warehouse", "postgresql", "postgresql"),
    ],
)
def test_the_engine_is_read_from_the_driver_or_declared(
    tmp_path, settings, connection, engine, expected
):
    from mlframework.lib import odbc

    data = with_(MINIMAL, "datasources.s", {"connection": connection, "engine": engine})
    settings.CONFIG = load_config(write(tmp_path, data), environ={})
    assert odbc.dialect("s").engine == expected


def test_inference_shortcuts_are_on_by_default_and_must_be_a_boolean(tmp_path):
    assert load_config(write(tmp_path, MINIMAL), environ={}).inference.shortcuts
    off = load_config(write(tmp_path, with_(MINIMAL, "inference.shortcuts", False)))
    assert off.inference.shortcuts is False
    message = error_for(tmp_path, with_(MINIMAL, "inference.shortcuts", "no"))
    assert message == "config.yaml: inference.shortcuts must be true or false, not 'no'"
    assert load_config(ROOT / "config.yaml", environ={}).inference.shortcuts


def test_it_takes_the_interface_language_from_web_language(tmp_path):
    config = load_config(
        write(tmp_path, with_(MINIMAL, "web.language", "pt-br")), environ={}
    )
    assert config.web.language == "pt-br"


def test_it_refuses_a_language_it_has_no_translation_for(tmp_path):
    message = error_for(tmp_path, with_(MINIMAL, "web.language", "pt"))
    assert message == "config.yaml: web.language must be one of en, pt-br"
