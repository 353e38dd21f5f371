"""Reachability probes: TCP hosts, the platform's databases, ODBC datasources.

Probes never raise: each returns a Result with the latency and, on failure,
the error in words with credentials masked. Many probes run concurrently, so
ten unreachable hosts cost about one timeout, not ten.
"""

from __future__ import annotations

import contextlib
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from mlframework.lib import odbc
from mlframework.lib.redact import redact


@dataclass(frozen=True)
class Result:
    kind: str  # "host", "database" or "datasource"
    name: str
    target: str
    status: str  # "up", "down" or "timeout"
    seconds: float
    error: str = ""
    critical: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "up"

    @property
    def ms(self) -> float:
        return round(self.seconds * 1000, 1)


def probe_host(name: str, host: str, port: int, timeout: float, critical=False):
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    started = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
        status, error = "up", ""
    except TimeoutError:
        status, error = "timeout", f"no answer within {timeout:g} s"
    except socket.gaierror as exc:
        status, error = "down", f"name not resolved: {exc.strerror}"
    except OSError as exc:
        status, error = "down", exc.strerror or str(exc)
    return Result(
        "host", name, target, status, time.perf_counter() - started, error, critical
    )


def probe_database(alias: str) -> Result:
    started = time.perf_counter()
    connection = connections[alias]
    target = f"{connection.vendor} {connection.settings_dict.get('HOST') or ''}".strip()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        status, error = "up", ""
    except Exception as exc:
        status, error = "down", redact(exc)
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
        "up" if result.ok else "down",
        result.seconds,
        result.error,
        source.critical,
    )


def run_all() -> list[Result]:
    """Every configured probe, concurrently."""
    config = settings.CONFIG
    jobs = [(probe_database, (alias,)) for alias in ("default", "events")]
    jobs += [(probe_datasource, (name,)) for name in sorted(config.datasources)]
    jobs += [
        (probe_host, (h.name, h.host, h.port, h.timeout, h.critical))
        for h in config.hosts
    ]
    with ThreadPoolExecutor(max_workers=min(32, len(jobs))) as pool:
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


def summary(results: list[Result]) -> dict:
    healthy = all(r.ok for r in results if r.critical)
    return {
        "status": "ok" if healthy else "failing",
        "checks": [
            {
                "kind": r.kind,
                "name": r.name,
                "status": r.status,
                "critical": r.critical,
                "ms": r.ms,
                **({"error": r.error} if r.error else {}),
            }
            for r in results
        ],
    }
