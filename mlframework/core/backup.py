"""Backup and restore: one .tar.gz with the databases, the model store, the
datasets and config.yaml (README, Backup and restore).

The databases go in as Django's JSON Lines serialization of every row, read
from one consistent snapshot: SQLite through its backup API (a copy of the
live file, page by page, that writers never notice), MySQL/MariaDB and
PostgreSQL inside one REPEATABLE READ transaction (what mysqldump
--single-transaction and pg_dump do). Rows, not SQL, so an archive restores
onto any of the three engines, into the schema `migrate` made.

Restore extracts into a private staging folder and checks every member's
SHA-256 before it touches anything; the rows are loaded in one transaction
per database (both open together), the model folders are moved in before the
commit and checked against their manifests inside it, so a failure leaves
the target as it was.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.models import Model
from django.utils import timezone

from dispatch import crontab
from dispatch import services as dispatch_services
from dispatch.models import Dispatch
from mlframework.events.log import log_event
from mlframework.events.models import Event
from mlframework.events.routers import EVENTS_DB
from mlframework.lib.redact import MASK, secret_values
from registry import datasets, store
from registry.models import Dataset, ModelVersion, RegisteredModel

FORMAT = 1
MANIFEST = "manifest.json"
DEFAULT_ROWS = "database/default.jsonl"
EVENTS_ROWS = "database/events.jsonl"
CONFIG = "config/config.yaml"
MODELS = "models/"
DATASETS = "datasets/"
RESTORED_CONFIG = "config.restored.yaml"
BATCH = 2000  # rows read per query and inserted per statement
CHUNK = 1 << 20
SOURCE = "backup"
# Rows a fresh install makes for itself (content types, permissions), and
# state that belongs to the machine, not to the platform: sessions, and the
# heartbeats of the old machine's workers.
SKIPPED = {
    "contenttypes.contenttype",
    "auth.permission",
    "sessions.session",
    "processes.worker",
}
_SNAPSHOT_ALIAS = "backup_snapshot"
_PLACEHOLDER = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-)?\}$")
_FALLBACK = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*):-.+\}$")


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says what and where."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    counts: dict[str, int]
    masked: list[str]

    def summary(self) -> str:
        rows = sum(
            n for k, n in self.counts.items() if "." in k and k != "events.event"
        )
        line = (
            f"backup written to {self.path} ({self.size / 1e6:.1f} MB): {rows} rows, "
            f"{self.counts['model_versions']} model version(s), "
            f"{self.counts['datasets']} dataset file(s)"
        )
        if "events.event" in self.counts:
            line += f", {self.counts['events.event']} event(s)"
        if self.masked:
            line += (
                f"; config.yaml: {len(self.masked)} literal secret(s) masked "
                f"({', '.join(self.masked)}): use ${{VAR}} placeholders"
            )
        return line


@dataclass(frozen=True)
class RestoreResult:
    counts: dict[str, int]
    versions: int
    datasets: int
    disabled: list[str] = field(default_factory=list)
    config: Path | None = None

    def summary(self) -> str:
        rows = sum(
            n for k, n in self.counts.items() if "." in k and k != "events.event"
        )
        line = (
            f"restored {rows} rows, {self.versions} model version(s) (verified "
            f"against their manifests), {self.datasets} dataset file(s)"
        )
        if "events.event" in self.counts:
            line += f", {self.counts['events.event']} event(s)"
        line += (
            f"; {len(self.disabled)} dispatch(es) restored DISABLED: enable each "
            "one when this installation should run it"
        )
        if self.config:
            line += f"; the backup's config is in {self.config} (not in use)"
        return line


# --- What goes in --------------------------------------------------------------


def _models_of(alias: str) -> list[type[Model]]:
    """Concrete models stored in `alias`, in an order where what a row refers
    to by natural key comes first."""
    wanted = []
    for config in apps.get_app_configs():
        models = [
            model
            for model in config.get_models()
            if model._meta.label_lower not in SKIPPED
            and not model._meta.proxy
            and model._meta.managed
            and (alias == EVENTS_DB) == (model is Event)
        ]
        if models:
            wanted.append((config, models))
    return serializers.sort_dependencies(wanted, allow_cycles=True)


def _applied_migrations(alias: str) -> dict[str, list[str]]:
    applied = MigrationLoader(
        connections[alias], ignore_no_migrations=True
    ).applied_migrations
    out: dict[str, list[str]] = {}
    for app, name in sorted(applied):
        out.setdefault(app, []).append(name)
    return out


def _rows(model: type[Model], alias: str) -> Iterator[Model]:
    """Every row in primary-key order, BATCH at a time (bounded memory on
    every engine: mysqlclient would otherwise buffer a whole table)."""
    manager = model._base_manager.using(alias).order_by("pk")
    last = None
    while True:
        page = manager.all() if last is None else manager.filter(pk__gt=last)
        batch = list(page[:BATCH])
        yield from batch
        if len(batch) < BATCH:
            return
        last = batch[-1].pk


def _dump(alias: str, snapshot: str, file: Path) -> dict[str, int]:
    """Write every row of `alias`, read through `snapshot`, as JSON Lines;
    return the counts per model."""
    counts = {}
    serializer = serializers.get_serializer("jsonl")
    with open(file, "w", encoding="utf-8") as handle:
        for model in _models_of(alias):
            counter = _Counted(_rows(model, snapshot))
            serializer().serialize(
                counter, stream=handle, use_natural_foreign_keys=True
            )
            counts[model._meta.label_lower] = counter.count
    return counts


class _Counted:
    def __init__(self, rows: Iterator[Model]) -> None:
        self.rows, self.count = rows, 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row


@contextmanager
def _snapshot(alias: str, folder: Path) -> Iterator[str]:
    """An alias whose reads all see `alias` as it was at one moment."""
    connection = connections[alias]
    if connection.vendor == "sqlite":
        copy = folder / f"{alias}.snapshot.sqlite3"
        connection.ensure_connection()
        target = sqlite3.connect(copy)
        try:
            # One step: the copy is one read transaction of the live file.
            connection.connection.backup(target)
        finally:
            target.close()
        name = f"{_SNAPSHOT_ALIAS}_{alias}"
        # A connection to the copy under its own name (this thread only), that
        # calls itself `alias`: it is that database, as of a moment ago.
        reader = type(connection)(
            {**connection.settings_dict, "NAME": str(copy)}, alias
        )
        connections[name] = reader
        try:
            yield name
        finally:
            reader.close()
            del connections[name]
        return
    with transaction.atomic(using=alias):
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                )
            elif connection.vendor == "mysql":
                # Django runs MySQL at READ COMMITTED; this transaction is
                # begun again at REPEATABLE READ, with its snapshot taken now.
                cursor.execute("COMMIT")
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        yield alias


def mask_config(text: str) -> tuple[str, list[str]]:
    """config.yaml's text with every literal secret masked: ${VAR} placeholders
    are kept as written, a ${VAR:-fallback} loses its fallback. Returns the
    text and the line numbers that were masked."""
    out, masked = [], []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if line.lstrip().startswith("#"):
            out.append(line)
            continue
        changed = line
        for value in sorted(set(secret_values(line)), key=len, reverse=True):
            bare = value.strip("'\"")
            if not bare or _PLACEHOLDER.match(bare):
                continue
            fallback = _FALLBACK.match(bare)
            if fallback:
                changed = changed.replace(bare, f"${{{fallback.group(1)}:-}}")
            elif bare == value and re.search(rf":\s*{re.escape(value)}", changed):
                # A plain YAML value: "*..." unquoted would read as an alias.
                changed = changed.replace(value, f'"{MASK}"')
            else:
                changed = changed.replace(bare, MASK)
        if changed != line:
            masked.append(f"line {number}")
        out.append(changed)
    return "".join(out), masked


def _platform_version() -> str:
    try:
        return metadata.version("mlframework")
    except metadata.PackageNotFoundError:
        text = (settings.BASE_DIR / "pyproject.toml").read_text()
        found = re.search(r'(?m)^version\s*=\s*"([^"]+)"', text)
        return found.group(1) if found else "unknown"


def default_output() -> Path:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return (
        settings.CONFIG.path(settings.CONFIG.paths.var)
        / "backups"
        / (f"mlframework-{stamp}.tar.gz")
    )


class _Writer:
    """Adds members to the archive, streamed, hashing each as it goes."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar, self.hashes = tar, {}

    def add_file(self, name: str, path: Path) -> None:
        info = tarfile.TarInfo(name)
        stat = path.stat()
        info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o600
        with open(path, "rb") as handle:
            hashing = _HashingReader(handle)
            self.tar.addfile(info, hashing)
        if hashing.read_bytes != info.size:
            raise BackupError(f"{path} changed size while it was archived.")
        self.hashes[name] = hashing.digest.hexdigest()

    def add_bytes(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = (
            len(data),
            int(timezone.now().timestamp()),
            0o600,
        )
        self.tar.addfile(info, io.BytesIO(data))
        self.hashes[name] = hashlib.sha256(data).hexdigest()

    def add_tree(self, prefix: str, folder: Path) -> None:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink():
                raise BackupError(f"{path} is a link; the store holds only files.")
            if path.is_file():
                self.add_file(prefix + path.relative_to(folder).as_posix(), path)


class _HashingReader:
    def __init__(self, handle) -> None:
        self.handle, self.digest, self.read_bytes = handle, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        self.read_bytes += len(data)
        return data


def _staging_root() -> Path:
    path = settings.CONFIG.path(settings.CONFIG.paths.var) / ".backup-staging"
    path.mkdir(parents=True, exist_ok=True)
    return path


def backup(output: Path | None = None, *, events: bool = True) -> BackupResult:
    """Write one archive of the running platform; return where and what."""
    output = Path(output) if output else default_output()
    output.parent.mkdir(parents=True, exist_ok=True)
    config_text, masked = mask_config(Path(settings.CONFIG_FILE).read_text())
    partial = output.with_name(f".{output.name}.{uuid.uuid4().hex}.partial")
    with tempfile.TemporaryDirectory(dir=_staging_root()) as tmp:
        folder = Path(tmp)
        aliases = [DEFAULT_DB_ALIAS] + ([EVENTS_DB] if events else [])
        counts: dict[str, int] = {}
        with ExitStack() as stack:
            # Both snapshots first, back to back: the event log is copied a
            # moment after the platform's rows, so it holds every event the
            # copied rows have (and perhaps a few newer ones).
            snapshots = {a: stack.enter_context(_snapshot(a, folder)) for a in aliases}
            versions = [
                (name, number)
                for name, number in ModelVersion.objects.using(
                    snapshots[DEFAULT_DB_ALIAS]
                )
                .exclude(status=ModelVersion.Status.DELETED)
                .exclude(manifest_sha256="")
                .values_list("model__name", "number")
            ]
            files = [
                datasets.path_of(d)
                for d in Dataset.objects.using(snapshots[DEFAULT_DB_ALIAS])
            ]
            for alias in aliases:
                rows = folder / f"{alias}.jsonl"
                counts.update(_dump(alias, snapshots[alias], rows))
            migrations = _applied_migrations(snapshots[DEFAULT_DB_ALIAS])
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with (
                os.fdopen(fd, "wb") as raw,
                tarfile.open(
                    fileobj=raw, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT
                ) as tar,
            ):
                writer = _Writer(tar)
                writer.add_file(DEFAULT_ROWS, folder / f"{DEFAULT_DB_ALIAS}.jsonl")
                if events:
                    writer.add_file(EVENTS_ROWS, folder / f"{EVENTS_DB}.jsonl")
                writer.add_bytes(CONFIG, config_text.encode())
                archived = []
                for name, number in versions:
                    path = store.root() / name / str(number)
                    if (path / store.MANIFEST).is_file():
                        writer.add_tree(f"{MODELS}{name}/{number}/", path)
                        archived.append([name, number])
                kept = 0
                for path in files:
                    if path.is_file():
                        writer.add_file(DATASETS + path.name, path)
                        kept += 1
                counts.update(model_versions=len(archived), datasets=kept)
                manifest = {
                    "format": FORMAT,
                    "platform": _platform_version(),
                    "created": timezone.now().isoformat(),
                    "engines": {
                        a: connections[a].vendor for a in (DEFAULT_DB_ALIAS, EVENTS_DB)
                    },
                    "events": events,
                    "counts": counts,
                    "migrations": migrations,
                    "versions": archived,
                    "files": writer.hashes,
                }
                writer.add_bytes(MANIFEST, json.dumps(manifest, indent=1).encode())
            os.replace(partial, output)
        finally:
            partial.unlink(missing_ok=True)
    log_event(SOURCE, "written", f"backup written to {output}", data={"counts": counts})
    return BackupResult(output, output.stat().st_size, counts, masked)


# --- Bringing it back ----------------------------------------------------------


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


def _extract(archive: Path, folder: Path) -> dict:
    """Every member into `folder`, checked against the manifest; the manifest."""
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file.")
    hashes = {}
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for member in tar:
                name = member.name
                if member.isdir():
                    continue
                if (
                    not member.isfile()
                    or not _SAFE_NAME.match(name)
                    or any(part in ("..", ".") for part in name.split("/"))
                ):
                    raise BackupError(
                        f"{archive}: member {name!r} is not a plain file of a backup."
                    )
                target = folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                source = tar.extractfile(member)
                with open(target, "wb") as out:
                    while block := source.read(CHUNK):
                        digest.update(block)
                        out.write(block)
                hashes[name] = digest.hexdigest()
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise BackupError(
            f"{archive} is not a readable backup archive: {exc}"
        ) from None
    if MANIFEST not in hashes:
        raise BackupError(f"{archive} has no {MANIFEST}: it is not a backup archive.")
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        expected = manifest["files"]
    except (ValueError, KeyError, TypeError):
        raise BackupError(f"{archive}: {MANIFEST} is unreadable.") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"{archive}: archive format {manifest.get('format')!r}, this platform "
            f"reads format {FORMAT}."
        )
    del hashes[MANIFEST]
    missing = sorted(set(expected) - set(hashes))
    if missing:
        raise BackupError(
            f"{archive}: member {missing[0]} is missing (corrupt archive)."
        )
    extra = sorted(set(hashes) - set(expected))
    if extra:
        raise BackupError(f"{archive}: member {extra[0]} is not in the manifest.")
    for name in sorted(expected):
        if hashes[name] != expected[name]:
            raise BackupError(
                f"{archive}: the SHA-256 of member {name} differs from the "
                "manifest's (corrupt or altered archive); nothing was restored."
            )
    return manifest


def _check_migrations(manifest: dict) -> None:
    known = MigrationLoader(connections[DEFAULT_DB_ALIAS], ignore_no_migrations=True)
    applied = set(known.applied_migrations)
    for app, names in manifest.get("migrations", {}).items():
        for name in names:
            if (app, name) not in applied:
                raise BackupError(
                    f"the backup's database has migration {app}.{name}, which this "
                    "installation has not applied: run `manage.py migrate` (with the "
                    f"platform version {manifest.get('platform')} or newer) first."
                )


def _not_empty(events: bool) -> list[str]:
    """What the target already holds that a restore would replace."""
    found = []
    for label, model in (
        ("users", get_user_model()),
        ("registered models", RegisteredModel),
        ("datasets", Dataset),
        ("dispatches", Dispatch),
    ):
        if model._base_manager.exists():
            found.append(f"{model._base_manager.count()} {label} in the database")
    if events and Event.objects.exists():
        found.append(f"{Event.objects.count()} events in the event log")
    folders = [p for p in store.root().iterdir() if not p.name.startswith(".")]
    if folders:
        found.append(f"{len(folders)} model folder(s) in {store.root()}")
    files = [p for p in datasets.root().iterdir() if not p.name.startswith(".")]
    if files:
        found.append(f"{len(files)} file(s) in {datasets.root()}")
    return found


def _clear(alias: str, models: list[type[Model]]) -> None:
    """Delete every row of `models` (and their many-to-many tables)."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in reversed(models):
            for m2m in model._meta.local_many_to_many:
                through = m2m.remote_field.through
                if through._meta.auto_created:
                    table = quote(through._meta.db_table)
                    cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - Django's name
            table = quote(model._meta.db_table)
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - Django's name


def _load(alias: str, file: Path) -> dict[str, int]:
    """Insert the rows of `file` into `alias` (inside the caller's transaction)."""
    models = _models_of(alias)
    connection = connections[alias]
    counts: dict[str, int] = {}
    pending: list[Model] = []
    deferred = []

    def flush() -> None:
        if pending:
            type(pending[0])._base_manager.using(alias).bulk_create(pending, BATCH)
            pending.clear()

    with connection.constraint_checks_disabled():
        _clear(alias, models)
        with open(file, encoding="utf-8") as handle:
            for item in serializers.deserialize(
                "jsonl", handle, using=alias, handle_forward_references=True
            ):
                row = item.object
                if pending and type(pending[0]) is not type(row):
                    flush()
                label = row._meta.label_lower
                counts[label] = counts.get(label, 0) + 1
                if item.m2m_data or item.deferred_fields:
                    flush()
                    item.save(using=alias)
                    if item.deferred_fields:
                        deferred.append(item)
                    continue
                pending.append(row)
                if len(pending) >= BATCH:
                    flush()
        flush()
        for item in deferred:
            item.save_deferred_fields(using=alias)
    connection.check_constraints(table_names=[m._meta.db_table for m in models])
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(statement)
    return counts


def _place(source: Path, target: Path, moved: list[tuple[Path, Path | None]]) -> None:
    """Move `source` to `target`; a folder already there is set aside."""
    aside = None
    if target.exists():
        aside = target.with_name(f".{target.name}.replaced-{uuid.uuid4().hex}")
        os.rename(target, aside)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target))
    moved.append((target, aside))


def _undo(moved: list[tuple[Path, Path | None]]) -> None:
    for target, aside in reversed(moved):
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
        if aside is not None:
            os.rename(aside, target)


def restore(archive: Path, *, force: bool = False) -> RestoreResult:
    """Bring an archive back onto this installation (empty, unless force)."""
    archive = Path(archive)
    with tempfile.TemporaryDirectory(dir=_staging_root()) as tmp:
        folder = Path(tmp)
        manifest = _extract(archive, folder)
        has_events = bool(manifest.get("events")) and (folder / EVENTS_ROWS).is_file()
        _check_migrations(manifest)
        found = _not_empty(has_events)
        if found and not force:
            raise BackupError(
                "this installation is not empty (" + "; ".join(found) + "): restore "
                "onto a fresh install (`manage.py migrate`, nothing else), or pass "
                "--force to replace what it holds."
            )
        moved: list[tuple[Path, Path | None]] = []
        try:
            result = _restore_rows(manifest, folder, has_events, moved)
        except BaseException:
            _undo(moved)
            raise
        for _, aside in moved:
            if aside is not None:
                shutil.rmtree(aside, ignore_errors=True)
    # Outside the transaction: the crontab is not part of it. Restored
    # dispatches are disabled, so their lines are removed, never added.
    crontab.sync()
    config = Path(settings.CONFIG_FILE).with_name(RESTORED_CONFIG)
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(result.config_bytes)
    log_event(
        SOURCE,
        "restored",
        f"restored from {archive}: {len(result.disabled)} dispatch(es) disabled",
        level="warning",
        data={"counts": result.counts, "archive": str(archive)},
    )
    return RestoreResult(
        result.counts, result.versions, result.datasets, result.disabled, config
    )


@dataclass
class _Restored:
    counts: dict[str, int]
    versions: int
    datasets: int
    disabled: list[str]
    config_bytes: bytes


def _restore_rows(
    manifest: dict, folder: Path, has_events: bool, moved: list
) -> _Restored:
    aliases = [DEFAULT_DB_ALIAS] + ([EVENTS_DB] if has_events else [])
    with ExitStack() as stack:
        # Both databases' transactions open together, committed at the end
        # (events first, then the platform's rows: README, what is atomic).
        for alias in aliases:
            stack.enter_context(transaction.atomic(using=alias))
        counts = _load(DEFAULT_DB_ALIAS, folder / DEFAULT_ROWS)
        if has_events:
            counts.update(_load(EVENTS_DB, folder / EVENTS_ROWS))
        for name, number in manifest.get("versions", []):
            _place(
                folder / "models" / name / str(number),
                store.root() / name / str(number),
                moved,
            )
        kept = 0
        if (folder / "datasets").is_dir():
            for path in sorted((folder / "datasets").iterdir()):
                _place(path, datasets.root() / path.name, moved)
                kept += 1
        for name, number in manifest.get("versions", []):
            version = ModelVersion.objects.get(model__name=name, number=number)
            try:
                store.verify(version)
            except Exception as exc:
                raise BackupError(f"restored model {name} v{number}: {exc}") from None
        reason = f"restored from a backup of {manifest.get('created', '?')}"
        for dispatch in Dispatch.objects.filter(enabled=True).order_by("pk"):
            dispatch_services.disable(dispatch, None, reason)
        disabled = list(Dispatch.objects.order_by("pk").values_list("name", flat=True))
    return _Restored(
        counts,
        len(manifest.get("versions", [])),
        kept,
        disabled,
        (folder / CONFIG).read_bytes(),
    )
