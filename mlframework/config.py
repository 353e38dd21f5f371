"""Load config.yaml once and validate it into typed, frozen values.

Every mistake stops start-up with one message that names the file and the key
path, e.g. ``config.yaml: datasources.sales.connection is required``.

Secrets stay out of the file: ``${VAR}`` is replaced by the environment
variable VAR (or the contents of the file named by ``VAR_FILE``), and
``${VAR:-fallback}`` gives a fallback when neither is set.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import types
import typing
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlframework.lib.odbc import dialects

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class ConfigError(Exception):
    """config.yaml is unreadable or invalid; the message names file and key."""


class _Invalid(Exception):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path} {problem}" if path else problem)
        self.path = path
        self.problem = problem


# --------------------------------------------------------------------------
# The typed configuration. Field defaults are the embedded defaults; a field
# without a default is required.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PathsConfig:
    var: str = "var"
    datasets: str = "var/datasets"
    models: str = "var/models"
    spool: str = "var/spool"
    locks: str = "var/locks"
    logs: str = "var/logs"
    static_root: str = "var/static"
    shadow: str = "var/shadow"


# The interface's languages (Django's codes); settings.LANGUAGES names them.
LANGUAGES = ("en", "pt-br")


@dataclass(frozen=True)
class WebConfig:
    secret_key: str = ""
    debug: bool = False
    allowed_hosts: list[str] = field(default_factory=lambda: ["127.0.0.1", "localhost"])
    csrf_trusted_origins: list[str] = field(default_factory=list)
    time_zone: str = "UTC"
    # The interface's language for users who chose none and whose browser
    # asks for none we have: en or pt-br.
    language: str = "en"
    session_age_hours: int = 12
    # Wrong passwords (or API tokens) from one address for one user before a
    # lockout of lockout_minutes (django-axes).
    login_failure_limit: int = 5
    lockout_minutes: int = 15
    # Served behind a TLS proxy: secure cookies, HSTS, redirect to https.
    https: bool = False

    def validate(self, path: str) -> None:
        _check_timezone(self.time_zone, f"{path}.time_zone")
        if self.language not in LANGUAGES:
            raise _Invalid(f"{path}.language", f"must be one of {', '.join(LANGUAGES)}")
        if self.session_age_hours < 1:
            raise _Invalid(f"{path}.session_age_hours", "must be at least 1")
        if not 1 <= self.login_failure_limit <= 1000:
            raise _Invalid(f"{path}.login_failure_limit", "must be between 1 and 1000")
        if not 1 <= self.lockout_minutes <= 10080:
            raise _Invalid(
                f"{path}.lockout_minutes", "must be between 1 and 10080 (a week)"
            )


@dataclass(frozen=True)
class DatabaseConfig:
    engine: str
    name: str
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = ""
    connect_timeout: int = 5
    options: dict[str, str] = field(default_factory=dict)

    ENGINES = {
        "sqlite": "django.db.backends.sqlite3",
        "mysql": "django.db.backends.mysql",
        "postgresql": "django.db.backends.postgresql",
    }

    def validate(self, path: str) -> None:
        if self.engine not in self.ENGINES:
            choices = ", ".join(sorted(self.ENGINES))
            raise _Invalid(f"{path}.engine", f"must be one of {choices}")
        if self.port:
            _check_port(self.port, f"{path}.port")
        if self.engine != "sqlite" and not self.host:
            raise _Invalid(f"{path}.host", f"is required for engine {self.engine}")
        if self.connect_timeout < 1:
            raise _Invalid(f"{path}.connect_timeout", "must be at least 1")


@dataclass(frozen=True)
class DatabasesConfig:
    default: DatabaseConfig
    events: DatabaseConfig


@dataclass(frozen=True)
class DatasourceConfig:
    connection: str
    description: str = ""
    test_query: str = "SELECT 1"
    timeout: int = 10
    critical: bool = True
    query_timeout: int = 15  # previews, test-runs and case queries (s)
    run_query_timeout: int = 3600  # a dispatch run's source query (s)
    engine: str = "auto"  # auto: from the driver's name

    def validate(self, path: str) -> None:
        if "driver=" not in self.connection.lower() and "dsn=" not in (
            self.connection.lower()
        ):
            raise _Invalid(
                f"{path}.connection", "must name a DRIVER={...} or a DSN=..."
            )
        if self.timeout < 1:
            raise _Invalid(f"{path}.timeout", "must be at least 1")
        for key in ("query_timeout", "run_query_timeout"):
            if not 1 <= getattr(self, key) <= 86_400:
                raise _Invalid(f"{path}.{key}", "must be between 1 and 86400 seconds")
        engines = ", ".join(sorted(dialects.BY_ENGINE))
        if self.engine != "auto" and self.engine not in dialects.BY_ENGINE:
            raise _Invalid(f"{path}.engine", f"must be auto or one of {engines}")
        if self.engine == "auto":
            match = re.search(r"(?i)\bdriver\s*=\s*\{([^}]*)\}", self.connection)
            if match is None:
                raise _Invalid(
                    f"{path}.engine",
                    f"is required when the connection names no DRIVER={{...}}: "
                    f"one of {engines}",
                )
            if dialects.for_driver(match.group(1)) is dialects.GENERIC:
                raise _Invalid(
                    f"{path}.engine",
                    f"is required: the driver {match.group(1)!r} has no known SQL "
                    f"dialect; set it to one of {engines}",
                )


@dataclass(frozen=True)
class HostConfig:
    name: str
    host: str
    port: int
    timeout: float = 10.0
    critical: bool = False

    def validate(self, path: str) -> None:
        _check_port(self.port, f"{path}.port")
        if not 0 < self.timeout <= 300:
            raise _Invalid(f"{path}.timeout", "must be between 0 and 300 seconds")
        if not self.host.strip():
            raise _Invalid(f"{path}.host", "must not be empty")


@dataclass(frozen=True)
class CronConfig:
    python: str = "auto"
    project_dir: str = "auto"
    timezone: str = "UTC"
    tag: str = "mlframework"
    log_dir: str = "var/logs"

    def validate(self, path: str) -> None:
        _check_timezone(self.timezone, f"{path}.timezone")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", self.tag):
            raise _Invalid(f"{path}.tag", "may hold only letters, digits, _ and -")


@dataclass(frozen=True)
class TrainingConfig:
    max_upload_mb: int = 2048
    default_time_limit: int = 120
    max_time_limit: int = 3600
    default_preset: str = "medium_quality"
    presets: list[str] = field(
        default_factory=lambda: [
            "medium_quality",
            "good_quality",
            "high_quality",
            "best_quality",
        ]
    )
    min_rows: int = 20
    holdout_fraction: float = 0.2
    demo_time_limit: int = 60
    # The most rows a dataset snapshotted from a query may hold (registry.snapshots).
    max_query_rows: int = 2_000_000
    # LightGBM models compiled to native code after training, and predicted
    # with (registry.acceleration).
    compiled_inference: bool = True

    def validate(self, path: str) -> None:
        if self.max_upload_mb < 1:
            raise _Invalid(f"{path}.max_upload_mb", "must be at least 1")
        if not 1 <= self.default_time_limit <= self.max_time_limit:
            raise _Invalid(
                f"{path}.default_time_limit",
                "must be between 1 and training.max_time_limit",
            )
        if self.default_preset not in self.presets:
            raise _Invalid(f"{path}.default_preset", "must be one of training.presets")
        if not 0 < self.holdout_fraction < 1:
            raise _Invalid(f"{path}.holdout_fraction", "must be between 0 and 1")
        if self.max_query_rows < 1:
            raise _Invalid(f"{path}.max_query_rows", "must be at least 1")


@dataclass(frozen=True)
class ShowroomConfig:
    max_rows: int = 100
    sample_rows: int = 10
    preload_aliases: list[str] = field(default_factory=lambda: ["production"])
    cache_size: int = 4

    def validate(self, path: str) -> None:
        if self.max_rows < 1:
            raise _Invalid(f"{path}.max_rows", "must be at least 1")
        if self.cache_size < 1:
            raise _Invalid(f"{path}.cache_size", "must be at least 1")


@dataclass(frozen=True)
class InferenceConfig:
    # The checked speed shortcuts a loaded model takes (registry.autogluon.
    # shortcuts); off: every prediction goes through AutoGluon's public API.
    shortcuts: bool = True


@dataclass(frozen=True)
class EventsConfig:
    page_size: int = 50
    spool_replay_batch: int = 500
    write_behind: bool = True

    def validate(self, path: str) -> None:
        if not 1 <= self.page_size <= 500:
            raise _Invalid(f"{path}.page_size", "must be between 1 and 500")


@dataclass(frozen=True)
class RetentionConfig:
    """How long finished records are kept (days; 0 keeps them forever)."""

    events_days: int = 180
    runs_days: int = 365
    jobs_days: int = 180
    datasets_days: int = 90  # datasets no version and no job uses
    api_requests_days: int = 90  # the API usage page's rows, one per request
    batch_size: int = 2000  # rows deleted per statement: short locks
    every_hours: int = 24  # how often the monitor's round prunes
    disk_warning_percent: int = 90  # the Monitor warns past this filesystem use

    def validate(self, path: str) -> None:
        for key in (
            "events_days",
            "runs_days",
            "jobs_days",
            "datasets_days",
            "api_requests_days",
        ):
            if not 0 <= getattr(self, key) <= 36_500:
                raise _Invalid(f"{path}.{key}", "must be between 0 and 36500 days")
        if not 1 <= self.batch_size <= 100_000:
            raise _Invalid(f"{path}.batch_size", "must be between 1 and 100000")
        if not 1 <= self.every_hours <= 24 * 30:
            raise _Invalid(f"{path}.every_hours", "must be between 1 and 720")
        if not 1 <= self.disk_warning_percent <= 100:
            raise _Invalid(f"{path}.disk_warning_percent", "must be between 1 and 100")


@dataclass(frozen=True)
class AlertsConfig:
    email_to: list[str] = field(default_factory=list)
    email_from: str = "mlframework@localhost"
    webhook_url: str = ""
    webhook_timeout: float = 5.0
    consecutive_failures: int = 3
    low_rows_fraction: float = 0.2
    low_rows_history: int = 10
    down_grace_minutes: int = 5

    def validate(self, path: str) -> None:
        for index, address in enumerate(self.email_to):
            if not re.fullmatch(r"[^@\s]+@[^@\s]+", address):
                raise _Invalid(
                    f"{path}.email_to[{index}]",
                    f"is not an e-mail address: {address!r}",
                )
        if self.webhook_url and not re.match(
            r"(?i)^https?://[^/\s]+", self.webhook_url
        ):
            raise _Invalid(f"{path}.webhook_url", "must be an http:// or https:// URL")
        if not 0 < self.webhook_timeout <= 60:
            raise _Invalid(
                f"{path}.webhook_timeout", "must be between 0 and 60 seconds"
            )
        if self.consecutive_failures < 1:
            raise _Invalid(f"{path}.consecutive_failures", "must be at least 1")
        if not 0 <= self.low_rows_fraction < 1:
            raise _Invalid(f"{path}.low_rows_fraction", "must be between 0 and 1")
        if self.low_rows_history < 2:
            raise _Invalid(f"{path}.low_rows_history", "must be at least 2")
        if self.down_grace_minutes < 0:
            raise _Invalid(f"{path}.down_grace_minutes", "must not be negative")


@dataclass(frozen=True)
class MonitorConfig:
    # Rows an on-demand drift check (a file or a query) reads at most.
    check_max_rows: int = 200_000

    def validate(self, path: str) -> None:
        if self.check_max_rows < 1:
            raise _Invalid(f"{path}.check_max_rows", "must be at least 1")


@dataclass(frozen=True)
class MetricsConfig:
    """Who may read /metrics: these addresses (or networks), or a client
    sending ``Authorization: Bearer <token>``."""

    allowed_ips: list[str] = field(default_factory=lambda: ["127.0.0.1", "::1"])
    token: str = ""

    def validate(self, path: str) -> None:
        for index, entry in enumerate(self.allowed_ips):
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise _Invalid(
                    f"{path}.allowed_ips[{index}]",
                    f"is not an IP address or network (CIDR): {entry!r}",
                ) from None
        if self.token and not (
            len(self.token) >= 16 and self.token.isascii() and self.token.isprintable()
        ):
            raise _Invalid(
                f"{path}.token",
                "must be at least 16 printable ASCII characters (or empty: no token)",
            )
        if self.token != self.token.strip():
            raise _Invalid(f"{path}.token", "must not start or end with a space")

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(e.strip(), strict=False) for e in self.allowed_ips]


@dataclass(frozen=True)
class EmailConfig:
    backend: str = "console"
    host: str = "localhost"
    port: int = 25
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    timeout: int = 10

    BACKENDS = {
        "console": "django.core.mail.backends.console.EmailBackend",
        "smtp": "django.core.mail.backends.smtp.EmailBackend",
    }

    def validate(self, path: str) -> None:
        if self.backend not in self.BACKENDS:
            choices = ", ".join(sorted(self.BACKENDS))
            raise _Invalid(f"{path}.backend", f"must be one of {choices}")
        _check_port(self.port, f"{path}.port")
        if self.use_tls and self.use_ssl:
            raise _Invalid(f"{path}.use_ssl", "cannot be true together with use_tls")
        if self.timeout < 1:
            raise _Invalid(f"{path}.timeout", "must be at least 1")


EXECUTORS = ("local", "slurm")
_SLURM_NAME = re.compile(r"^[A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class SlurmConfig:
    """executors.slurm: what each job asks sbatch for (overridable per
    dispatch and per training) and where its log goes (a shared folder)."""

    partition: str = ""
    account: str = ""
    qos: str = ""
    cpus: int = 1
    memory: str = "1G"
    time_limit: int = 60  # minutes
    extra_options: list[str] = field(default_factory=list)
    log_dir: str = "var/slurm"
    # False: never ask sacct (a cluster without slurmdbd); the completion log
    # and squeue answer instead.
    accounting: bool = True
    command_timeout: int = 30
    # The cluster's slurm.conf ("": SLURM_CONF from the environment, or
    # Slurm's own default); cron starts its lines without that environment.
    conf: str = ""

    def validate(self, path: str) -> None:
        if self.conf and ("\n" in self.conf or "\0" in self.conf):
            raise _Invalid(f"{path}.conf", "must be a file path on one line")
        for key in ("partition", "account", "qos"):
            if not _SLURM_NAME.match(getattr(self, key)):
                raise _Invalid(
                    f"{path}.{key}", "may hold only letters, digits, _ . and -"
                )
        if self.cpus < 1:
            raise _Invalid(f"{path}.cpus", "must be at least 1")
        if not re.fullmatch(r"[1-9][0-9]*[KMGT]?", self.memory):
            raise _Invalid(
                f"{path}.memory", f"must be like 512M or 2G, not {self.memory!r}"
            )
        if self.time_limit < 1:
            raise _Invalid(f"{path}.time_limit", "must be at least 1 minute")
        for index, option in enumerate(self.extra_options):
            if not re.fullmatch(
                r"--?[A-Za-z][A-Za-z0-9-]*(=[A-Za-z0-9_.,:/@%+=-]*)?", option
            ):
                raise _Invalid(
                    f"{path}.extra_options[{index}]",
                    f"must look like --name=value without spaces or shell "
                    f"characters, not {option!r}",
                )
        if not 1 <= self.command_timeout <= 300:
            raise _Invalid(
                f"{path}.command_timeout", "must be between 1 and 300 seconds"
            )
        if not self.log_dir.strip():
            raise _Invalid(f"{path}.log_dir", "must not be empty")


@dataclass(frozen=True)
class ExecutorsConfig:
    default: str = "local"
    slurm: SlurmConfig = field(default_factory=SlurmConfig)

    def validate(self, path: str) -> None:
        if self.default not in EXECUTORS:
            raise _Invalid(
                f"{path}.default",
                f"must be one of {', '.join(EXECUTORS)}, not {self.default!r}",
            )


@dataclass(frozen=True)
class Config:
    databases: DatabasesConfig
    paths: PathsConfig = field(default_factory=PathsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    datasources: dict[str, DatasourceConfig] = field(default_factory=dict)
    hosts: list[HostConfig] = field(default_factory=list)
    cron: CronConfig = field(default_factory=CronConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    showroom: ShowroomConfig = field(default_factory=ShowroomConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    executors: ExecutorsConfig = field(default_factory=ExecutorsConfig)
    # Where the file lives: relative paths in it are relative to this folder.
    base_dir: Path = field(default=Path("."), metadata={"internal": True})

    def validate(self, path: str) -> None:
        for name in self.datasources:
            if not _NAME_PATTERN.match(name):
                raise _Invalid(
                    f"datasources.{name}",
                    "is not a valid name (lower-case letters, digits and _)",
                )
        seen: set[str] = set()
        for index, host in enumerate(self.hosts):
            if host.name in seen:
                raise _Invalid(f"hosts[{index}].name", f"repeats {host.name!r}")
            seen.add(host.name)

    def path(self, relative: str) -> Path:
        """An absolute path for a path setting (relative ones from base_dir)."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.base_dir / candidate


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def load_config(file: str | os.PathLike[str], environ: dict | None = None) -> Config:
    """Read, interpolate and validate a config file; raise ConfigError."""
    file = Path(file)
    label = file.name
    environ = os.environ if environ is None else environ
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot be read ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{label}: is not valid YAML{where}: {problem}") from exc
    if raw is None:
        raw = {}
    try:
        raw = _interpolate(raw, "", environ)
        config = _build(Config, raw, "")
    except _Invalid as exc:
        raise ConfigError(f"{label}: {exc}") from None
    return dataclasses.replace(config, base_dir=file.resolve().parent)


def _interpolate(value: Any, path: str, environ: dict) -> Any:
    if isinstance(value, dict):
        return {
            key: _interpolate(item, _join(path, str(key)), environ)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _interpolate(item, f"{path}[{index}]", environ)
            for index, item in enumerate(value)
        ]
    if isinstance(value, str):
        return _ENV_PATTERN.sub(lambda m: _lookup(m, path, environ), value)
    return value


def _lookup(match: re.Match, path: str, environ: dict) -> str:
    name, fallback = match.group(1), match.group(2)
    if name in environ:
        return environ[name]
    file_name = environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise _Invalid(
                path,
                f"reads ${{{name}}} from {name}_FILE, which cannot be read "
                f"({exc.strerror})",
            ) from None
    if fallback is not None:
        return fallback
    raise _Invalid(
        path, f"uses ${{{name}}} but the environment variable {name} is not set"
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _build(cls: type, raw: Any, path: str) -> Any:
    if not isinstance(raw, dict):
        raise (
            _Invalid(path, "must be a mapping")
            if path
            else _Invalid("", "the top level must be a mapping")
        )
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")
    }
    for key in raw:
        if key not in fields:
            known = ", ".join(fields)
            raise _Invalid(
                _join(path, str(key)), f"is not a known key (known: {known})"
            )
    values = {}
    for name, spec in fields.items():
        key_path = _join(path, name)
        if name in raw:
            values[name] = _coerce(hints[name], raw[name], key_path)
        elif (
            spec.default is dataclasses.MISSING
            and spec.default_factory is dataclasses.MISSING
        ):
            raise _Invalid(key_path, "is required")
    instance = cls(**values)
    validate = getattr(instance, "validate", None)
    if validate:
        validate(path)
    return instance


def _coerce(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    if origin is list:
        (item_type,) = typing.get_args(hint)
        if value is None:
            return []
        if not isinstance(value, list):
            raise _Invalid(path, "must be a list")
        return [
            _coerce(item_type, item, f"{path}[{index}]")
            for index, item in enumerate(value)
        ]
    if origin is dict:
        _, item_type = typing.get_args(hint)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _Invalid(path, "must be a mapping")
        return {
            str(key): _coerce(item_type, item, _join(path, str(key)))
            for key, item in value.items()
        }
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported type {hint}")  # pragma: no cover
    if hint is bool:
        if not isinstance(value, bool):
            raise _Invalid(path, f"must be true or false, not {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value)  # came from ${VAR} interpolation
            raise _Invalid(path, f"must be a whole number, not {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                return float(value) if isinstance(value, str) else _fail(path, value)
            except ValueError:
                raise _Invalid(path, f"must be a number, not {value!r}") from None
        return float(value)
    if hint is str:
        if value is None:
            return ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise _Invalid(path, f"must be text, not {type(value).__name__}")
        return value
    raise TypeError(f"unsupported type {hint}")  # pragma: no cover


def _fail(path: str, value: Any) -> Any:
    raise _Invalid(path, f"must be a number, not {value!r}")


def _check_port(port: int, path: str) -> None:
    if not 1 <= port <= 65535:
        raise _Invalid(path, f"must be a port between 1 and 65535, not {port}")


def _check_timezone(name: str, path: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _Invalid(path, f"is not a known time zone: {name!r}") from None
