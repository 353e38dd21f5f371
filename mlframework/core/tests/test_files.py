"""Files private to the server's user: what a fresh process creates, the
system check that names what is open, and the fix make setup runs."""

import dataclasses
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from mlframework.core import checks, files

ROOT = Path(__file__).resolve().parents[3]


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _config_for(var: Path, settings):
    """The test config with every path (and both SQLite databases) in var."""
    config = settings.CONFIG
    # Every path key, so that a key added later cannot point outside var.
    paths = dataclasses.replace(
        config.paths,
        **{f.name: str(var / f.name) for f in dataclasses.fields(config.paths)}
        | {"var": str(var)},
    )
    databases = dataclasses.replace(
        config.databases,
        default=dataclasses.replace(
            config.databases.default, engine="sqlite", name=str(var / "db.sqlite3")
        ),
        events=dataclasses.replace(
            config.databases.events, engine="sqlite", name=str(var / "ev.sqlite3")
        ),
    )
    cron = dataclasses.replace(config.cron, log_dir=str(var / "logs"))
    return dataclasses.replace(config, paths=paths, databases=databases, cron=cron)


@pytest.fixture
def fresh_config(tmp_path, settings):
    """A config file whose var/ does not exist yet, SQLite for both databases
    and no secret key, so that the process generates one."""
    raw = yaml.safe_load(Path(settings.CONFIG_FILE).read_text())
    var = tmp_path / "var"
    raw["paths"] = {
        "var": str(var),
        **{
            key: str(var / key)
            for key in ("datasets", "models", "spool", "locks", "logs")
        },
        "static_root": str(var / "static"),
    }
    raw["web"]["secret_key"] = ""
    raw["databases"] = {
        "default": {"engine": "sqlite", "name": str(var / "mlframework.sqlite3")},
        "events": {"engine": "sqlite", "name": str(var / "events.sqlite3")},
    }
    raw["cron"]["log_dir"] = str(var / "logs")
    file = tmp_path / "config.fresh.yaml"
    file.write_text(yaml.safe_dump(raw))
    return file, var


@pytest.mark.slow
def test_a_fresh_process_creates_only_private_files(fresh_config):
    file, var = fresh_config
    env = {**os.environ, "MLFRAMEWORK_CONFIG": str(file)}
    for command in (
        ["migrate", "--noinput", "-v0"],
        ["migrate", "--database", "events", "--noinput", "-v0"],
        ["collectstatic", "--noinput", "-v0"],
        ["check"],
    ):
        # Started as a shell or cron would start it: umask 022.
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            umask=0o022,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    assert "W010" not in done.stderr + done.stdout
    modes = _modes(var)
    for name in ("mlframework.sqlite3", "events.sqlite3", "secret_key", "static"):
        assert name in modes
    assert any(name.startswith("static/admin/") for name in modes)
    folders = {name for name in modes if (var / name).is_dir()}
    assert {name: modes[name] for name in folders} == dict.fromkeys(folders, 0o700)
    others = set(modes) - folders
    assert {name: modes[name] for name in others} == dict.fromkeys(others, 0o600)


@pytest.fixture
def old_tree(tmp_path, settings):
    """An installation made before files were private: 0755 and 0644."""
    var = tmp_path / "var"
    for folder in ("models/penguins/v1", "datasets", "spool", "logs"):
        (var / folder).mkdir(parents=True)
    names = ("db.sqlite3", "db.sqlite3-wal", "secret_key", "models/penguins/v1/m.so")
    for name in names:
        (var / name).write_text("x")
    (var / "run.sh").write_text("#!/bin/sh\n")
    for path in [var, *var.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    (var / "run.sh").chmod(0o755)
    (var / "elsewhere").symlink_to("/etc/passwd")
    settings.CONFIG = _config_for(var, settings)
    return var


def test_the_check_names_what_others_can_read_and_the_fix(old_tree):
    [warning] = checks.check_private_files(None)
    assert warning.id == "mlframework.W010"
    assert warning.msg.startswith("12 path(s) are readable or writable by other")
    assert f"{old_tree} (755)" in warning.msg and "and 7 more" in warning.msg
    assert files.FIX_COMMAND in warning.hint


def test_the_check_is_silent_when_everything_is_private(old_tree):
    for path in [old_tree, *old_tree.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)
    assert checks.check_private_files(None) == []


def test_the_check_warns_on_one_readable_file(old_tree):
    call_command("private_files")
    (old_tree / "datasets" / "new.parquet").write_text("x")
    (old_tree / "datasets" / "new.parquet").chmod(0o640)
    [warning] = checks.check_private_files(None)
    assert warning.msg.startswith("1 path(s)") and "new.parquet (640)" in warning.msg


def test_the_fix_makes_an_old_tree_private(old_tree, capsys):
    call_command("private_files")
    assert "12 path(s) made private" in capsys.readouterr().out
    modes = _modes(old_tree)
    assert modes.pop("elsewhere") == 0o777  # the link itself, never followed
    assert modes.pop("run.sh") == 0o700  # the owner keeps what he may run
    for name, mode in modes.items():
        assert mode == (0o700 if (old_tree / name).is_dir() else 0o600), name
    assert stat.S_IMODE(Path("/etc/passwd").stat().st_mode) == 0o644
    assert checks.check_private_files(None) == []
    call_command("private_files")
    assert "0 path(s) made private" in capsys.readouterr().out


def test_sqlite_files_kept_outside_var_are_private_too(tmp_path, settings):
    config = _config_for(tmp_path / "var", settings)
    elsewhere = tmp_path / "db" / "main.sqlite3"
    default = dataclasses.replace(config.databases.default, name=str(elsewhere))
    databases = dataclasses.replace(config.databases, default=default)
    roots = files.private_roots(dataclasses.replace(config, databases=databases))
    assert roots[:3] == [elsewhere, Path(f"{elsewhere}-shm"), Path(f"{elsewhere}-wal")]
    assert tmp_path / "var" in roots and tmp_path / "db" not in roots
