"""Files private to the server's user: var/ and every folder the platform
writes (databases, secret key, spool, datasets, models, locks, logs, static).

New files are private from the start (the umask set in ``mlframework``);
``make_private`` fixes an installation made before that, and the system check
``mlframework.W010`` names whatever is still open to other users.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
OTHERS = 0o077  # the group's and everyone else's bits
FIX_COMMAND = "manage.py private_files"


@dataclass(frozen=True)
class Fixed:
    roots: list[Path]
    changed: list[Path]


def private_roots(config) -> list[Path]:
    """The folders (and SQLite files kept elsewhere) that must be private."""
    paths = config.paths
    keys = (
        "var",
        "datasets",
        "models",
        "spool",
        "locks",
        "logs",
        "static_root",
        "shadow",
    )
    candidates = [config.path(getattr(paths, key)) for key in keys]
    candidates.append(config.path(config.cron.log_dir))
    for database in (config.databases.default, config.databases.events):
        if database.engine == "sqlite":
            file = config.path(database.name)
            candidates += [file, *(Path(f"{file}{end}") for end in ("-wal", "-shm"))]
    roots: list[Path] = []
    for candidate in sorted({Path(os.path.abspath(p)) for p in candidates}):
        if not any(candidate.is_relative_to(root) for root in roots):
            roots.append(candidate)
    return roots


def _walk(root: Path):
    """Every folder and file under root, root included; symlinks are not
    followed (what they point to is not ours to judge)."""
    if root.is_symlink() or not root.exists():
        return
    yield root
    if not root.is_dir():
        return
    for folder, folders, files in os.walk(root, followlinks=False):
        for name in folders + files:
            path = Path(folder, name)
            if not path.is_symlink():
                yield path


def exposed(roots: list[Path]) -> list[tuple[Path, int]]:
    """(path, mode) of what the group or other users may read, write or
    enter."""
    found = []
    for root in roots:
        for path in _walk(root):
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:  # removed while we looked
                continue
            if mode & OTHERS:
                found.append((path, mode))
    return found


def _private_mode(mode: int) -> int:
    if stat.S_ISDIR(mode):
        return PRIVATE_FOLDER
    # 0600; an owner-executable file keeps its x bit (there should be none).
    return PRIVATE_FILE | (stat.S_IMODE(mode) & stat.S_IXUSR)


def make_private(roots: list[Path]) -> Fixed:
    """chmod every folder to 0700 and every file to 0600 under the roots."""
    changed = []
    for path, mode in exposed(roots):
        os.chmod(path, _private_mode(mode))  # never a symlink: _walk skips them
        changed.append(path)
    return Fixed(roots=roots, changed=changed)
