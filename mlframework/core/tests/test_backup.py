"""manage.py backup and restore: onto a second installation (its own config,
var/ folder and SQLite databases), while a dispatch runs, and refusals."""

import contextlib
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tarfile
import textwrap
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connections

from conftest import PASSWORD, ROOT
from dispatch import crontab
from dispatch import services as dispatch_services
from dispatch.models import Dispatch, DispatchRun, RunStatus
from mlframework.core import backup
from mlframework.events.log import log_event
from mlframework.events.models import Event
from mlframework.lib import odbc
from registry import datasets, store
from registry.models import ModelVersion
from registry.services import predict_batch

ALL = pytest.mark.django_db(transaction=True, databases="__all__")
# A long SQLite source (as in dispatch/tests/test_processes.py): a million rows.
_MANY = """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
WHERE i < 1000000) SELECT n.i AS id, p.island, p.bill_length_mm,
p.bill_depth_mm, p.flipper_length_mm, p.body_mass_g, p.sex, p.year
FROM n JOIN {table} p ON p.id = (n.i % 344) + 1"""

# Run in the second installation: its predictions, logins, dispatches, crontab.
_INSPECT = textwrap.dedent(
    """
    import json, sys
    import django
    django.setup()
    import pandas as pd, pyarrow as pa
    from django.contrib.auth import authenticate
    from django.test import RequestFactory
    from dispatch import crontab
    from dispatch.models import Dispatch, DispatchRun
    from mlframework.events.models import Event
    from registry.models import ModelVersion, Dataset
    from registry import datasets
    from registry.services import predict_batch

    rows = pa.Table.from_pandas(pd.read_json(sys.argv[1]), preserve_index=False)
    users = json.loads(sys.argv[2])
    request = RequestFactory().post("/accounts/login/")
    out = {
        "predictions": {
            f"{v.model.name}/{v.number}": [
                str(x) for x in predict_batch(v, rows).labels
            ]
            for v in ModelVersion.objects.select_related("model")
        },
        "logins": {
            name: authenticate(request, username=name, password=password) is not None
            for name, password in users.items()
        },
        "dispatches": {d.name: d.enabled for d in Dispatch.objects.all()},
        "paused": {d.name: d.pause_reason for d in Dispatch.objects.all()},
        "crontab": sorted(crontab.managed_entries()),
        "runs": {
            str(r.pk): [r.status, r.rows_read] for r in DispatchRun.objects.all()
        },
        "events": [
            [e.kind, e.dispatch_run_id] for e in Event.objects.order_by("created")
        ],
        "datasets": [datasets.path_of(d).is_file() for d in Dataset.objects.all()],
    }
    print(json.dumps(out))
    """
)


class Installation:
    """A second platform on this machine: own config, var/ and SQLite files."""

    def __init__(self, folder: Path, default: dict | None = None) -> None:
        raw = yaml.safe_load(Path(settings.CONFIG_FILE).read_text())
        var = folder / "var"
        raw["paths"] = {
            key: str(var / sub)
            for key, sub in (
                ("var", ""),
                ("datasets", "datasets"),
                ("models", "models"),
                ("spool", "spool"),
                ("locks", "locks"),
                ("logs", "logs"),
                ("static_root", "static"),
            )
        }
        raw["databases"] = {
            "default": default
            or {"engine": "sqlite", "name": str(var / "mlframework.sqlite3")},
            "events": {"engine": "sqlite", "name": str(var / "events.sqlite3")},
        }
        raw["cron"]["log_dir"] = str(var / "logs")
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "config.yaml"
        self.config.write_text(yaml.safe_dump(raw))
        self.var = var
        self.env = {**os.environ, "MLFRAMEWORK_CONFIG": str(self.config)}
        # Its own metrics folder, under its var/ (settings.py), not this one's.
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def migrate(self) -> None:
        for database in ("default", "events"):
            done = self.manage("migrate", "--database", database, "-v0")
            assert done.returncode == 0, done.stderr

    def inspect(self, rows, users: dict[str, str]) -> dict:
        done = subprocess.run(
            [sys.executable, "-c", _INSPECT, rows.to_json(), json.dumps(users)],
            cwd=ROOT,
            env={**self.env, "DJANGO_SETTINGS_MODULE": "mlframework.settings"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture
def second(tmp_path):
    target = Installation(tmp_path / "second")
    target.migrate()
    return target


@pytest.fixture
def cleanup_crontab():
    yield
    crontab.remove_all()  # this run's tag (MLF_TEST_CRON_TAG) only


def _features(frame):
    return frame.drop(columns=["id"]).head(40)


def _labels(version, rows) -> list[str]:
    table = pa.Table.from_pandas(rows, preserve_index=False)
    return [str(x) for x in predict_batch(version, table).labels]


def _dispatch(model, **fields) -> Dispatch:
    values = {
        "name": f"scores-{uuid.uuid4().hex[:6]}",
        "model": model,
        "version_ref": "production",
        "source_datasource": "demo",
        "source_query": "SELECT * FROM penguins",
        "sink_datasource": "demo",
        "sink_table": "penguin_scores",
        "cron": "*/5 * * * *",
        "timezone": "UTC",
        "enabled": False,
    }
    values.update(fields)
    return Dispatch.objects.create(**values)


@pytest.mark.slow
@ALL
def test_a_backup_restores_on_a_second_installation_with_the_same_predictions(
    tiny_classifier,
    tiny_regressor,
    operator,
    penguins_frame,
    second,
    tmp_path,
    cleanup_crontab,
):
    datasets.store_file(ROOT / "demo/penguins.csv", name="penguins")
    # The second installation checks with the real hashers, not the tests' MD5.
    operator.password = PBKDF2PasswordHasher().encode(PASSWORD, "backupsalt0123")
    operator.save()
    on = _dispatch(tiny_classifier.model)
    dispatch_services.enable(on, operator)
    off = _dispatch(tiny_classifier.model)
    assert on.pk in crontab.managed_entries()
    log_event("test", "marker", "before the backup", user=operator)
    rows = _features(penguins_frame)
    expected = {
        f"{v.model.name}/{v.number}": _labels(v, rows)
        for v in (tiny_classifier, tiny_regressor)
    }
    archive = tmp_path / "platform.tar.gz"
    out = io.StringIO()
    call_command("backup", output=archive, stdout=out)
    assert "2 model version(s), 1 dataset file(s)" in out.getvalue()
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    crontab.remove_all()  # the new machine's crontab holds none of ours

    done = second.manage("restore", str(archive))

    assert done.returncode == 0, done.stderr
    assert "2 model version(s) (verified against their manifests)" in done.stdout
    assert "2 dispatch(es) restored DISABLED" in done.stdout
    state = second.inspect(rows, {"otto": PASSWORD, "nobody-here": PASSWORD})
    assert state["predictions"] == expected
    assert state["logins"] == {"otto": True, "nobody-here": False}
    assert state["dispatches"] == {on.name: False, off.name: False}
    assert state["paused"][on.name].startswith("restored from a backup of")
    assert state["crontab"] == []  # disabled: no line came back
    assert ["marker", None] in state["events"]
    assert ["enabled", None] in state["events"]
    assert state["datasets"] == [True]
    restored = (second.config.parent / "config.restored.yaml").read_text()
    assert "not-a-secret-test-only-key" not in restored  # a literal secret
    assert "${MLF_TEST_MARIADB_PASSWORD}" in restored  # placeholders kept
    assert (
        yaml.safe_load(second.config.read_text())["databases"]["default"]["engine"]
        == "sqlite"
    )  # the live config untouched
    # Enabling a restored dispatch brings its line back, as for any dispatch.
    enable = second.manage(
        "shell",
        "-c",
        "from dispatch.models import Dispatch; from dispatch import services;"
        f"services.enable(Dispatch.objects.get(name={on.name!r}), None)",
    )
    assert enable.returncode == 0, enable.stderr
    assert second.inspect(rows, {})["crontab"] == [on.pk]


@pytest.fixture
def second_on_mariadb(tmp_path, mariadb):
    """A second installation whose platform database is a fresh MariaDB one.
    (PostgreSQL: no driver in this virtualenv, psycopg is not installed.)"""
    import MySQLdb

    name = f"test_restore_{uuid.uuid4().hex[:8]}"
    port = int(os.environ.get("MLF_TEST_MARIADB_PORT", "13306"))
    password = os.environ["MLF_TEST_MARIADB_PASSWORD"]
    server = MySQLdb.connect(host="127.0.0.1", port=port, user="app", passwd=password)
    server.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    default = {
        "engine": "mysql",
        "name": name,
        "host": "127.0.0.1",
        "port": port,
        "user": "app",
        "password": "${MLF_TEST_MARIADB_PASSWORD}",
    }
    target = Installation(tmp_path / "second-mariadb", default)
    try:
        target.migrate()
        yield target
    finally:
        server.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        server.close()


@pytest.mark.slow
@ALL
def test_a_sqlite_backup_restores_onto_mariadb_and_backs_up_from_it(
    tiny_classifier,
    operator,
    penguins_frame,
    second_on_mariadb,
    tmp_path,
    cleanup_crontab,
):
    operator.password = PBKDF2PasswordHasher().encode(PASSWORD, "backupsalt0123")
    operator.save()
    on = _dispatch(tiny_classifier.model)
    dispatch_services.enable(on, operator)
    rows = _features(penguins_frame)
    expected = {"penguins/1": _labels(tiny_classifier, rows)}
    archive = tmp_path / "to-mariadb.tar.gz"
    backup.backup(archive)
    crontab.remove_all()

    done = second_on_mariadb.manage("restore", str(archive))

    assert done.returncode == 0, done.stderr
    state = second_on_mariadb.inspect(rows, {"otto": PASSWORD})
    assert state["predictions"] == expected
    assert state["logins"] == {"otto": True}
    assert state["dispatches"] == {on.name: False} and state["crontab"] == []
    # Its ids went on from the restored ones (sequences reset).
    again = second_on_mariadb.manage(
        "shell", "-c",
        "from django.contrib.auth.models import User;"
        "print(User.objects.create_user('new').pk)",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert int(again.stdout.split()[-1]) > operator.pk
    # And the server's own snapshot backs it up again.
    output = tmp_path / "from-server.tar.gz"
    again = second_on_mariadb.manage("backup", "--output", str(output))
    assert again.returncode == 0, again.stderr
    assert "1 model version(s)" in again.stdout
    manifest = json.loads(_members(output)[backup.MANIFEST])
    assert manifest["engines"]["default"] == "mysql"
    assert manifest["counts"]["auth.user"] == 2


def _source_table(frame) -> str:
    table = f"src_{uuid.uuid4().hex[:10]}"
    arrow = pa.Table.from_pandas(frame.drop(columns=["species"]), preserve_index=False)
    odbc.create_table("demo", table, arrow.schema)
    odbc.write_table("demo", table, arrow)
    return table


def _wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@ALL
def test_a_backup_taken_while_a_dispatch_runs_restores_consistently(
    tiny_classifier, penguins_frame, process_env, second, tmp_path, cleanup_crontab
):
    odbc.sqlite_database_path("demo").parent.mkdir(parents=True, exist_ok=True)
    source = _source_table(penguins_frame)
    sink = f"sink_{uuid.uuid4().hex[:10]}"
    dispatch = _dispatch(
        tiny_classifier.model,
        source_query=_MANY.format(table=source),
        sink_table=sink,
        key_columns=["id"],
        chunk_size=20_000,
    )
    job = subprocess.Popen(
        [sys.executable, "scripts/dispatch.py", str(dispatch.pk)],
        cwd=ROOT,
        env=process_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    archive = tmp_path / "running.tar.gz"
    try:
        run = _wait(
            lambda: DispatchRun.objects.filter(
                dispatch=dispatch, status=RunStatus.RUNNING
            ).first(),
            90,
            "the run to start",
        )
        _wait(
            lambda: Event.objects.filter(dispatch_run_id=run.pk, kind="started"),
            30,
            "its started event",
        )
        backup.backup(archive)
        run.refresh_from_db()
        still_running = run.status == RunStatus.RUNNING
    finally:
        if job.poll() is None:
            job.send_signal(signal.SIGKILL)
        job.wait(timeout=30)
        for table in (source, sink):
            odbc.execute("demo", f"DROP TABLE IF EXISTS {table}")
    assert still_running, "the run ended before the backup: the test proves nothing"

    done = second.manage("restore", str(archive))

    assert done.returncode == 0, done.stderr
    state = second.inspect(_features(penguins_frame), {})
    status, rows_read = state["runs"][str(run.pk)]
    kinds = [kind for kind, run_id in state["events"] if run_id == run.pk]
    # Copied mid-run: the row as the runner had committed it, its start event
    # with it, and nothing of an end that had not happened.
    assert status == RunStatus.RUNNING
    assert "started" in kinds
    assert "finished" not in kinds and "failed" not in kinds
    assert rows_read < 1_000_000


# --- Refusals: a clear message, nothing changed -----------------------------


@pytest.fixture
def archive(tmp_path, operator, cleanup_crontab):
    path = tmp_path / "good.tar.gz"
    backup.backup(path)
    return path


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def _write(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _state() -> tuple:
    return (
        get_user_model().objects.count(),
        sorted(p.name for p in store.root().iterdir()),
        sorted(p.name for p in datasets.root().iterdir()),
        Event.objects.count(),
    )


@ALL
def test_it_refuses_a_corrupt_archive(archive, tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    before = _state()
    with pytest.raises(CommandError, match="is not a readable backup archive"):
        call_command("restore", str(broken), force=True)
    assert _state() == before


@ALL
def test_it_refuses_a_member_whose_checksum_differs(archive, tmp_path):
    members = _members(archive)
    members[backup.DEFAULT_ROWS] += b"\n"
    altered = _write(tmp_path / "altered.tar.gz", members)
    before = _state()
    with pytest.raises(
        CommandError,
        match=re.escape("SHA-256 of member database/default.jsonl differs"),
    ):
        call_command("restore", str(altered), force=True)
    assert _state() == before


@ALL
def test_it_refuses_an_archive_missing_a_member(archive, tmp_path):
    members = _members(archive)
    del members[backup.CONFIG]
    cut = _write(tmp_path / "cut.tar.gz", members)
    with pytest.raises(
        CommandError, match=re.escape("member config/config.yaml is missing")
    ):
        call_command("restore", str(cut), force=True)


@ALL
def test_it_refuses_a_member_outside_the_archive(archive, tmp_path):
    members = _members(archive)
    members["../escape.txt"] = b"x"
    bad = _write(tmp_path / "escape.tar.gz", members)
    with pytest.raises(
        CommandError, match=re.escape("'../escape.txt' is not a plain file")
    ):
        call_command("restore", str(bad), force=True)
    assert not (tmp_path.parent / "escape.txt").exists()


@ALL
def test_it_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match=re.escape("nowhere.tar.gz: no such file")):
        call_command("restore", str(tmp_path / "nowhere.tar.gz"))


@ALL
def test_it_refuses_a_target_that_is_not_empty(archive):
    before = _state()
    with pytest.raises(CommandError, match=r"is not empty \(1 users in the database"):
        call_command("restore", str(archive))
    assert _state() == before
    assert not Path(settings.CONFIG_FILE).with_name("config.restored.yaml").exists()


@ALL
def test_force_replaces_what_the_target_holds(archive, django_user_model):
    django_user_model.objects.create_user("late", password=PASSWORD)
    call_command("restore", str(archive), force=True, stdout=io.StringIO())
    assert list(django_user_model.objects.values_list("username", flat=True)) == [
        "otto"
    ]
    Path(settings.CONFIG_FILE).with_name("config.restored.yaml").unlink()


@ALL
def test_a_model_that_fails_its_manifest_rolls_everything_back(
    tiny_classifier, tmp_path, cleanup_crontab
):
    path = tmp_path / "model.tar.gz"
    backup.backup(path)
    members = _members(path)
    manifest = json.loads(members[backup.MANIFEST])
    name = next(n for n in members if n.endswith("/manifest.json") and "models/" in n)
    members[name] = members[name].replace(b'"format"', b'"format" ', 1)
    manifest["files"][name] = backup.hashlib.sha256(members[name]).hexdigest()
    members[backup.MANIFEST] = json.dumps(manifest).encode()
    tampered = _write(tmp_path / "tampered.tar.gz", members)
    before = (ModelVersion.objects.count(), _state())
    with pytest.raises(CommandError, match="the manifest does not match"):
        call_command("restore", str(tampered), force=True)
    assert (ModelVersion.objects.count(), _state()) == before


@ALL
def test_no_events_leaves_the_event_log_out(tmp_path, cleanup_crontab):
    path = tmp_path / "no-events.tar.gz"
    out = io.StringIO()
    call_command("backup", output=path, no_events=True, stdout=out)
    assert backup.EVENTS_ROWS not in _members(path)
    assert "event(s)" not in out.getvalue()


# --- config.yaml without secrets -------------------------------------------


def test_literal_secrets_are_masked_and_placeholders_kept():
    text = textwrap.dedent(
        """\
        web:
          secret_key: abc-literal-key
        databases:
          default:
            password: ${DB_PASSWORD}
            user: ml
          events:
            password: "hunter22"
        email:
          password: ${SMTP_PASSWORD:-fallback-secret}
        datasources:
          a:
            connection: "DRIVER={X};UID=u;PWD=${A_PWD};DATABASE=d"
          b:
            connection: "DRIVER={X};UID=u;PWD=plain-pass;DATABASE=d"
        # password: in-a-comment
        """
    )
    masked, lines = backup.mask_config(text)
    assert "abc-literal-key" not in masked and "hunter22" not in masked
    assert "plain-pass" not in masked and "fallback-secret" not in masked
    assert "password: ${DB_PASSWORD}" in masked and "PWD=${A_PWD};" in masked
    assert "password: ${SMTP_PASSWORD:-}" in masked
    assert "user: ml" in masked and "# password: in-a-comment" in masked
    assert lines == ["line 2", "line 8", "line 10", "line 15"]
    yaml.safe_load(masked)  # still YAML


@ALL
def test_it_names_the_database_it_could_not_read_and_writes_no_archive(
    mariadb, tmp_path
):
    mariadb.stop()  # the test config's event log
    output = tmp_path / "down.tar.gz"
    with pytest.raises(CommandError, match="backup failed: a database could not"):
        call_command("backup", output=output)
    assert list(tmp_path.iterdir()) == []
    mariadb.start()
    with contextlib.suppress(DatabaseError):  # the connection the stop broke
        connections["events"].close()
