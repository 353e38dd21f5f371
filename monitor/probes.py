"""Reachability probes: TCP hosts, the platform's databases, ODBC datasources.

Probes never raise: each returns a Result with the latency and, on failure,
the error in words with credentials masked. Many probes run concurrently, so
ten unreachable hosts cost about one timeout, not ten.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connections, models
from django.utils.translation import gettext_lazy as _

from mlframework.lib import odbc
from mlframework.lib.redact import redact
from mlframework.processes import services as processes


class Status(models.TextChoices):
    UP = "up", _("up")
    DOWN = "down", _("down")
    TIMEOUT = "timeout", _("timeout")


@dataclass(frozen=True)
class Result:
    kind: str  # "host", "database", "datasource" or "service"
    name: str
    target: str
    status: Status
    seconds: float
    error: str = ""
    critical: bool = False
    address: str = ""  # the address a host name resolved to and answered on
    alerts: bool = True  # False: shown down, but no alert for it (yet)

    @property
    def ok(self) -> bool:
        return self.status == Status.UP

    @property
    def ms(self) -> float:
        return round(self.seconds * 1000, 1)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused: nothing listens on port {port}",
    errno.EHOSTUNREACH: "host unreachable: no route to {host}",
    errno.ENETUNREACH: "network unreachable from this machine",
    errno.EADDRNOTAVAIL: "address not available on this machine",
    errno.ECONNRESET: "connection reset by the host",
    errno.EACCES: "connection not permitted (firewall?)",
    errno.EPERM: "connection not permitted (firewall?)",
}


def _in_words(exc: OSError, host: str, port: int) -> str:
    template = _ERRNO_WORDS.get(exc.errno or 0)
    if template:
        return template.format(host=host, port=port)
    return exc.strerror or str(exc) or type(exc).__name__


def host_target(host: str, port: int) -> str:
    host = _bare(host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bare(host: str) -> str:
    host = host.strip()
    # Accept "[::1]" as written in URLs as well as the bare literal.
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def probe_host(
    name: str, host: str, port: int, timeout: float, critical: bool = False
) -> Result:
    """TCP connect to host:port within `timeout` seconds in all.

    A name may resolve to several addresses (IPv6 and IPv4): they are tried in
    order within the one deadline, so a probe never takes much longer than its
    timeout.
    """
    address_text = _bare(host)
    target = host_target(host, port)
    started = time.perf_counter()
    deadline = started + timeout

    def result(status: Status, error: str = "", address: str = "") -> Result:
        seconds = time.perf_counter() - started
        return Result("host", name, target, status, seconds, error, critical, address)

    try:
        addresses = socket.getaddrinfo(address_text, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            return result(Status.DOWN, f"name lookup failed for now: {address_text}")
        return result(Status.DOWN, f"name not known: {address_text} ({exc.strerror})")
    except UnicodeError:
        return result(Status.DOWN, f"not a valid host name: {address_text!r}")
    except OSError as exc:
        return result(Status.DOWN, f"cannot resolve {address_text!r}: {exc}")
    errors = []
    for family, kind, proto, _name, sockaddr in addresses:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            break
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(remaining)
                sock.connect(sockaddr)
            return result(Status.UP, address=sockaddr[0])
        except TimeoutError:
            break
        except OSError as exc:
            errors.append(_in_words(exc, sockaddr[0], port))
    if time.perf_counter() >= deadline or not errors:
        return result(Status.TIMEOUT, f"no answer within {timeout:g} s")
    return result(Status.DOWN, "; ".join(dict.fromkeys(errors)))


def probe_database(alias: str) -> Result:
    started = time.perf_counter()
    connection = connections[alias]
    settings_dict = connection.settings_dict
    where = settings_dict.get("HOST") or ""
    if settings_dict.get("PORT"):
        where += f":{settings_dict['PORT']}"
    target = f"{connection.vendor} {where}".strip()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        status, error = Status.UP, ""
    except Exception as exc:
        status, error = Status.DOWN, redact(exc)
        with contextlib.suppress(Exception):
            connection.close()
    # The event log spools while its database is down, so it is not critical.
    return Result(
        "database",
        alias,
        target,
        status,
        time.perf_counter() - started,
        error,
        critical=alias == "default",
    )


def probe_datasource(name: str) -> Result:
    source = settings.CONFIG.datasources[name]
    result = odbc.probe(name)
    return Result(
        "datasource",
        name,
        odbc.driver_name(source.connection),
        Status.UP if result.ok else Status.DOWN,
        result.seconds,
        result.error,
        source.critical,
    )


CRON_NAMES = ("cron", "crond")


def probe_cron_daemon(proc: Path = Path("/proc")) -> Result:
    """Is a cron daemon running on this machine? Without one no dispatch starts."""
    started = time.perf_counter()
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue  # the process ended while we looked
        if name in CRON_NAMES:
            pids.append(int(entry.name))
    seconds = time.perf_counter() - started
    if pids:
        target = "pid " + ", ".join(str(pid) for pid in sorted(pids))
        return Result("service", "cron", target, Status.UP, seconds)
    return Result(
        "service",
        "cron",
        "cron daemon",
        Status.DOWN,
        seconds,
        "the cron daemon is not running: scheduled dispatches will not start",
    )


def probe_task_workers() -> Result:
    """Is a task worker beating? Critical only while tasks wait for one."""
    started = time.perf_counter()
    try:
        pool = processes.pool()
    except Exception as exc:
        return Result(
            "service",
            "task worker",
            "task workers",
            Status.DOWN,
            time.perf_counter() - started,
            f"cannot read the workers' heartbeats: {redact(exc)}",
        )
    seconds = time.perf_counter() - started
    waiting = f"{pool.queued} task{'s' if pool.queued != 1 else ''} queued"
    if pool.up:
        target = f"{len(pool.up)} up: " + ", ".join(w.where for w in pool.up)
        return Result(
            "service", "task worker", target, Status.UP, seconds, critical=False
        )
    return Result(
        "service",
        "task worker",
        "no worker up",
        Status.DOWN,
        seconds,
        f"no task worker is running ({waiting}): training and runs started from "
        "the web wait until one starts (manage.py task_worker)",
        critical=pool.queued > 0,
        # An idle platform may run without a worker; one that leaves work
        # waiting alerts.
        alerts=pool.queued > 0,
    )


def run_all() -> list[Result]:
    """Every configured probe, concurrently, in a stable order."""
    # Here, not at the top: monitor.cluster builds its Result from this module.
    from monitor import cluster

    config = settings.CONFIG
    jobs = [(probe_database, (alias,)) for alias in ("default", "events")]
    jobs += [(probe_datasource, (name,)) for name in sorted(config.datasources)]
    jobs += [
        (probe_host, (h.name, h.host, h.port, h.timeout, h.critical))
        for h in config.hosts
    ]
    jobs.append((probe_cron_daemon, ()))
    jobs.append((probe_task_workers, ()))
    if cluster.shown():
        # Asked here: the probes' threads have their own connections.
        jobs.append((cluster.probe_controller, (cluster.in_use(),)))
    # One thread per probe: they mostly wait, and a slow one must not queue
    # the others behind it.
    with ThreadPoolExecutor(max_workers=min(64, len(jobs))) as pool:
        futures = [pool.submit(_closing(function), *args) for function, args in jobs]
        return [future.result() for future in futures]


def _closing(function):
    def run(*args):
        try:
            return function(*args)
        finally:
            # Threads get their own database connections; close them here.
            connections.close_all()

    return run


def healthy(results: list[Result]) -> bool:
    return all(r.ok for r in results if r.critical)


def summary(results: list[Result], *, details: bool = False) -> dict:
    """The /healthz body. It is public: names and states, no addresses; the
    error texts only with details (for logged-in users)."""
    return {
        "status": "ok" if healthy(results) else "failing",
        "checks": [
            {
                "kind": r.kind,
                "name": r.name,
                "status": r.status,
                "critical": r.critical,
                "ms": r.ms,
                **({"error": r.error} if r.error and details else {}),
            }
            for r in results
        ],
    }
