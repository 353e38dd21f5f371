"""The model store: var/models/<model>/<number>/ = predictor/ + manifest.json.

Only training writes here. Every version directory carries a manifest of
SHA-256 file hashes and the AutoGluon version that wrote it; the manifest's
own hash is kept on the ModelVersion row. Before anything is loaded the
three are checked, so a directory the platform did not train (or one that
was changed since) is never unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

from django.conf import settings

from registry import autogluon
from registry.errors import ModelUnavailable

MANIFEST = "manifest.json"
PREDICTOR = "predictor"
FORMAT = 1
# Compiled boosters (registry.acceleration) beside predictor/: their own
# manifest, whose hash is on the row (ModelVersion.compiled_sha256).
COMPILED = "compiled"
COMPILED_MANIFEST = "compiled.json"


def root() -> Path:
    path = settings.CONFIG.path(settings.CONFIG.paths.models)
    path.mkdir(parents=True, exist_ok=True)
    return path


def version_dir(model_name: str, number: int) -> Path:
    return root() / model_name / str(int(number))


def staging_dir(owner: str = "") -> Path:
    """A fresh folder for a fit in progress, on the same disk as the store.

    `owner` (e.g. "job-12") starts its name, so what a killed worker left can
    be found and removed (`discard_staging_of`).
    """
    name = f"{owner}-{uuid.uuid4().hex}" if owner else uuid.uuid4().hex
    path = root() / ".staging" / name
    path.mkdir(parents=True)
    return path


def discard_staging_of(owner: str) -> int:
    """Remove every staging folder of `owner`; return how many there were."""
    found = list((root() / ".staging").glob(f"{owner}-*")) if owner else []
    for path in found:
        discard(path)
    return len(found)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(predictor_dir: Path) -> dict[str, str]:
    files = {}
    for path in sorted(predictor_dir.rglob("*")):
        if path.is_symlink():
            raise ModelUnavailable(f"The model folder holds a link ({path.name}).")
        if path.is_file():
            files[path.relative_to(predictor_dir).as_posix()] = file_sha256(path)
    return files


def write_manifest(version_path: Path, *, model: str, number: int) -> str:
    """Hash every predictor file into manifest.json; return the manifest's hash."""
    manifest = {
        "format": FORMAT,
        "model": model,
        "version": int(number),
        "autogluon": autogluon.version(),
        "files": _files(version_path / PREDICTOR),
    }
    data = json.dumps(manifest, indent=1, sort_keys=True).encode()
    (version_path / MANIFEST).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def publish(staging: Path, *, model: str, number: int) -> tuple[Path, str]:
    """Move a finished fit into its version folder; return (folder, manifest hash).

    `staging` holds predictor/; the manifest is written before the move so a
    version folder never exists without one.
    """
    digest = write_manifest(staging, model=model, number=number)
    target = version_dir(model, number)
    target.parent.mkdir(parents=True, exist_ok=True)
    # rename() refuses a non-empty target: never overwrites another version.
    os.rename(staging, target)
    return target, digest


def verify(version) -> Path:
    """Check a version's folder against its manifest; return the predictor path.

    Raises ModelUnavailable with the reason when anything does not match.
    """
    path = version_dir(version.model.name, version.number)
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        raise ModelUnavailable(
            f"{version} has no model files on this server (expected in {path})."
        )
    data = manifest_file.read_bytes()
    if not version.manifest_sha256 or (
        hashlib.sha256(data).hexdigest() != version.manifest_sha256
    ):
        raise ModelUnavailable(
            f"{version}: the manifest does not match the one written at training; "
            "the folder was changed outside the platform and will not be loaded."
        )
    manifest = json.loads(data)
    trained_with = manifest.get("autogluon")
    installed = autogluon.version()
    if trained_with != installed:
        raise ModelUnavailable(
            f"{version} was trained with AutoGluon {trained_with} but this server "
            f"runs AutoGluon {installed}; retrain it (or install {trained_with})."
        )
    expected = manifest.get("files") or {}
    try:
        actual = _files(path / PREDICTOR)
    except FileNotFoundError:
        actual = {}
    missing = sorted(set(expected) - set(actual))
    if missing:
        raise ModelUnavailable(
            f"{version}: {len(missing)} model file(s) are missing, e.g. {missing[0]}."
        )
    extra = sorted(set(actual) - set(expected))
    if extra:
        raise ModelUnavailable(
            f"{version}: the folder holds a file training did not write ({extra[0]})."
        )
    changed = sorted(name for name in expected if expected[name] != actual[name])
    if changed:
        raise ModelUnavailable(
            f"{version}: {changed[0]} was changed after training "
            "(its hash does not match the manifest); it will not be loaded."
        )
    return path / PREDICTOR


def predictor_files(version) -> dict[str, str]:
    """The predictor's files and their hashes, as its manifest lists them."""
    manifest = version_dir(version.model.name, version.number) / MANIFEST
    return json.loads(manifest.read_bytes()).get("files") or {}


def compiled_staging(version) -> Path:
    """A fresh folder to compile into, inside the version's folder."""
    path = (
        version_dir(version.model.name, version.number)
        / f".{COMPILED}-{uuid.uuid4().hex}"
    )
    path.mkdir()
    return path


def publish_compiled(version, staging: Path, manifest: dict) -> str:
    """Write compiled.json (with every file's hash) into `staging`, put the
    folder in place of the version's compiled/; return compiled.json's hash.
    The caller stores the hash on the row in the same breath."""
    manifest = {
        **manifest,
        "format": FORMAT,
        "files": {
            path.name: file_sha256(path)
            for path in sorted(staging.iterdir())
            if path.is_file() and path.name != COMPILED_MANIFEST
        },
    }
    data = json.dumps(manifest, indent=1, sort_keys=True).encode()
    (staging / COMPILED_MANIFEST).write_bytes(data)
    target = version_dir(version.model.name, version.number) / COMPILED
    if target.exists():
        old = target.with_name(f".{COMPILED}-old-{uuid.uuid4().hex}")
        os.rename(target, old)
        shutil.rmtree(old, ignore_errors=True)
    os.rename(staging, target)
    return hashlib.sha256(data).hexdigest()


def remove_compiled(version) -> None:
    shutil.rmtree(
        version_dir(version.model.name, version.number) / COMPILED, ignore_errors=True
    )


def verify_compiled(version) -> tuple[Path, dict]:
    """Check compiled/ against the hash on the row; return (folder, manifest).

    Raises ModelUnavailable with the reason when anything does not match (the
    caller then predicts with LightGBM itself).
    """
    folder = version_dir(version.model.name, version.number) / COMPILED
    manifest_file = folder / COMPILED_MANIFEST
    if not version.compiled_sha256:
        raise ModelUnavailable(f"{version} has no compiled models.")
    if not manifest_file.is_file():
        raise ModelUnavailable(f"{version}: {COMPILED}/{COMPILED_MANIFEST} is missing.")
    data = manifest_file.read_bytes()
    if hashlib.sha256(data).hexdigest() != version.compiled_sha256:
        raise ModelUnavailable(
            f"{version}: {COMPILED}/{COMPILED_MANIFEST} does not match the one the "
            "platform wrote; the compiled code will not be loaded."
        )
    manifest = json.loads(data)
    for name, digest in (manifest.get("files") or {}).items():
        path = folder / name
        if path.is_symlink() or not path.is_file() or file_sha256(path) != digest:
            raise ModelUnavailable(
                f"{version}: {COMPILED}/{name} is missing or was changed after it "
                "was compiled; the compiled code will not be loaded."
            )
    return folder, manifest


def load(version) -> autogluon.Predictor:
    """Verify, then load. The only way predictors are loaded."""
    return autogluon.load(verify(version))


def remove(model_name: str, number: int) -> None:
    shutil.rmtree(version_dir(model_name, number), ignore_errors=True)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
