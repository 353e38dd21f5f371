"""Disk usage: what the platform keeps (models, datasets, logs, databases)
and how full the filesystem holding it is, with a warning past
retention.disk_warning_percent. Walking a large model store takes a while,
so the figures are measured at most once a minute per process."""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connections

REMEASURE_SECONDS = 60.0


@dataclass(frozen=True)
class Part:
    name: str  # "models", "datasets", "logs", "database default", ...
    where: str  # a path, or the database's engine and name
    bytes: int | None  # None when it could not be measured
    error: str = ""


@dataclass(frozen=True)
class DiskUsage:
    parts: tuple[Part, ...]
    total: int  # the filesystem holding var/
    used: int
    free: int
    warning_percent: int
    measured_at: float

    @property
    def percent(self) -> float:
        return round(100 * self.used / self.total, 1) if self.total else 0.0

    @property
    def warning(self) -> bool:
        return self.percent >= self.warning_percent


def folder_bytes(path: Path) -> int:
    """Bytes of the regular files under `path` (links not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:
                continue  # removed while walking
            total += stat.st_size
    return total


def _database(alias: str) -> Part:
    connection = connections[alias]
    vendor, name = connection.vendor, connection.settings_dict["NAME"]
    where = f"{vendor} {name}"
    try:
        if vendor == "sqlite":
            files = [Path(f"{name}{suffix}") for suffix in ("", "-wal", "-shm")]
            size = sum(f.stat().st_size for f in files if f.exists())
        else:
            sql = {
                "mysql": "SELECT COALESCE(SUM(data_length + index_length), 0) "
                "FROM information_schema.tables WHERE table_schema = DATABASE()",
                "postgresql": "SELECT pg_database_size(current_database())",
            }[vendor]
            with connection.cursor() as cursor:
                cursor.execute(sql)
                size = int(cursor.fetchone()[0])
    except Exception as exc:  # a panel never fails the page
        return Part(f"database {alias}", where, None, f"{type(exc).__name__}: {exc}")
    return Part(f"database {alias}", where, size)


def measure() -> DiskUsage:
    config = settings.CONFIG
    folders = {
        "models": config.path(config.paths.models),
        "datasets": config.path(config.paths.datasets),
        "logs": config.path(config.paths.logs),
    }
    parts = [
        Part(name, str(path), folder_bytes(path) if path.exists() else 0)
        for name, path in folders.items()
    ]
    parts += [_database(alias) for alias in ("default", "events")]
    var = config.path(config.paths.var)
    total, used, free = shutil.disk_usage(var if var.exists() else config.base_dir)
    return DiskUsage(
        parts=tuple(parts),
        total=total,
        used=used,
        free=free,
        warning_percent=config.retention.disk_warning_percent,
        measured_at=time.time(),
    )


_lock = threading.Lock()
_last: DiskUsage | None = None


def usage() -> DiskUsage:
    """The latest figures, measured again when older than a minute."""
    global _last
    with _lock:
        if _last is None or time.time() - _last.measured_at > REMEASURE_SECONDS:
            _last = measure()
        return _last


def forget() -> None:
    global _last
    with _lock:
        _last = None
