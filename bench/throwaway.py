"""A throwaway installation for the benchmarks: a config file in a folder of
its own, Django set up on it, its databases migrated; and the child-process
helpers the memory benchmarks share (a peak RSS is only clean in a fresh
process)."""

import json
import os
import resource
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_FOLDERS = ("datasets", "models", "spool", "locks", "logs", "shadow")


def write_config(folder: Path, **sections) -> Path:
    """config.yaml in `folder`: every path inside it, both databases SQLite
    with the shipped WAL settings, no hosts, a cron tag of this process.
    Each keyword replaces that top-level key; a dict merges into the default
    one (``web={"allowed_hosts": [...]}`` keeps the secret key)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "paths": {key: str(folder / key) for key in _FOLDERS}
        | {"var": str(folder), "static_root": str(folder / "static")},
        "web": {"secret_key": secrets.token_urlsafe(50)},
        "databases": {
            key: {
                "engine": "sqlite",
                "name": str(folder / f"{name}.sqlite3"),
                "options": {
                    "init_command": "PRAGMA journal_mode=WAL; "
                    "PRAGMA synchronous=NORMAL;"
                },
            }
            for key, name in (("default", "platform"), ("events", "events"))
        },
        "hosts": [],
        "cron": {"tag": f"mlframework-bench-{os.getpid()}"},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = config[key] | value
        else:
            config[key] = value
    path = folder / "config.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def setup_django(config: Path, *, migrate: bool = True) -> None:
    """Django on `config`; with `migrate`, its folders made and both databases
    migrated."""
    os.environ["MLFRAMEWORK_CONFIG"] = str(config)
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlframework.settings"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    if not migrate:
        return
    from django.conf import settings
    from django.core.management import call_command

    for key in _FOLDERS:
        settings.CONFIG.path(getattr(settings.CONFIG.paths, key)).mkdir(
            parents=True, exist_ok=True
        )
    call_command("migrate", verbosity=0)
    call_command("migrate", database="events", verbosity=0)


def configure(folder: Path, **sections) -> None:
    """write_config and setup_django in one step."""
    setup_django(write_config(folder, **sections))


def rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(script: str, *args: str) -> dict:
    """Run ``script --child <args>`` in a fresh Python; the JSON object it
    printed last."""
    result = subprocess.run(
        [sys.executable, script, "--child", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])
