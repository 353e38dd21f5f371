"""System checks: report an unusable configuration at start-up."""

import os
import shutil
import stat

from django.conf import settings
from django.core.checks import Error, Warning, register

from mlframework.core import files
from mlframework.lib import odbc


@register()
def check_paths(app_configs, **kwargs) -> list:
    """Every configured folder must exist (or be creatable) and be writable."""
    config = settings.CONFIG
    problems = []
    for key in ("var", "datasets", "models", "spool", "locks", "logs"):
        folder = config.path(getattr(config.paths, key))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problems.append(
                Error(
                    f"paths.{key} ({folder}) cannot be created: {exc.strerror}",
                    hint=f"Fix paths.{key} in {settings.CONFIG_FILE}.",
                    id="mlframework.E001",
                )
            )
            continue
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            problems.append(
                Error(
                    f"paths.{key} ({folder}) is not a writable folder",
                    hint=f"Fix paths.{key} in {settings.CONFIG_FILE} or its rights.",
                    id="mlframework.E002",
                )
            )
    return problems


@register()
def check_cron(app_configs, **kwargs) -> list:
    if shutil.which("crontab") is None:
        return [
            Warning(
                "the crontab command is missing: dispatches cannot be scheduled",
                hint="Install cron (apt-get install --no-install-recommends cron).",
                id="mlframework.W001",
            )
        ]
    return []


@register()
def check_odbc(app_configs, **kwargs) -> list:
    problems = []
    installed = odbc.installed_drivers()
    for name, source in settings.CONFIG.datasources.items():
        driver = odbc.driver_name(source.connection)
        if driver and driver not in installed:
            problems.append(
                Warning(
                    f"datasources.{name} uses ODBC driver {{{driver}}}, "
                    "which is not installed",
                    hint="Installed drivers: " + (", ".join(installed) or "none"),
                    id="mlframework.W002",
                )
            )
    return problems


@register()
def check_private_files(app_configs, **kwargs) -> list:
    """Databases, the secret key, spool, datasets and models are for this user
    alone: warn when any of it is open to the group or other users."""
    roots = files.private_roots(settings.CONFIG)
    found = files.exposed(roots)
    if not found:
        return []
    shown = ", ".join(f"{path} ({stat.S_IMODE(mode):o})" for path, mode in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return [
        Warning(
            f"{len(found)} path(s) are readable or writable by other users: "
            f"{shown}{more}",
            hint=f"Run `{files.FIX_COMMAND}` (make setup does): folders 0700, "
            "files 0600.",
            id="mlframework.W010",
        )
    ]
