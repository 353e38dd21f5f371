"""The ODBC adapter: named datasources from config.yaml.

pyodbc serves small queries and probes; arrow-odbc serves bulk reads and
writes as Arrow record batches (measured 10-20x faster than pyodbc here; see
the recipes). Every driver error leaves this module as OdbcError, with
credentials masked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import arrow_odbc
import pyarrow as pa
import pyodbc
from django.conf import settings

from mlframework.lib.redact import redact

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_DATABASE_KEY = re.compile(r"(?i)(\bdatabase\s*=\s*)([^;]+)")
_DRIVER = re.compile(r"(?i)\bdriver\s*=\s*\{([^}]*)\}")


class OdbcError(Exception):
    """A datasource could not be reached or a statement failed."""

    def __init__(self, datasource: str, message: str) -> None:
        self.datasource = datasource
        super().__init__(f"{datasource}: {redact(message)}")


@dataclass(frozen=True)
class Probe:
    ok: bool
    seconds: float
    error: str = ""
    value: object = None


def datasource_names() -> list[str]:
    return sorted(settings.CONFIG.datasources)


def installed_drivers() -> list[str]:
    try:
        return list(pyodbc.drivers())
    except pyodbc.Error:
        return []


def driver_name(connection: str) -> str:
    match = _DRIVER.search(connection)
    return match.group(1) if match else ""


def connection_string(name: str) -> str:
    """The datasource's connection string, SQLite paths made absolute."""
    try:
        source = settings.CONFIG.datasources[name]
    except KeyError:
        raise OdbcError(name, "is not a configured datasource") from None
    text = source.connection
    if "sqlite" in driver_name(text).lower():
        text = _DATABASE_KEY.sub(
            lambda m: m.group(1) + str(settings.CONFIG.path(m.group(2).strip())), text
        )
    return text


def quote_identifier(name: str, connection: str = "") -> str:
    """Validate a user-given table or column name and quote it for the driver."""
    if not _IDENTIFIER.match(name or ""):
        raise ValueError(
            f"{name!r} is not a valid name: use letters, digits and _, "
            "starting with a letter or _, at most 64 characters"
        )
    if "mariadb" in connection.lower() or "mysql" in connection.lower():
        return f"`{name}`"
    return f'"{name}"'


def connect(name: str, *, autocommit: bool = True) -> pyodbc.Connection:
    timeout = (
        settings.CONFIG.datasources[name].timeout
        if name in (settings.CONFIG.datasources)
        else 10
    )
    text = connection_string(name)
    try:
        return pyodbc.connect(text, autocommit=autocommit, timeout=timeout)
    except pyodbc.Error as exc:
        raise OdbcError(name, _message(exc)) from None


def probe(name: str, query: str | None = None) -> Probe:
    """Connect and run the datasource's test query; never raises."""
    started = time.perf_counter()
    if name not in settings.CONFIG.datasources:
        return Probe(
            False, 0.0, error=str(OdbcError(name, "is not a configured datasource"))
        )
    try:
        query = query or settings.CONFIG.datasources[name].test_query
        with connect(name) as connection:
            row = connection.execute(query).fetchone()
        return Probe(True, time.perf_counter() - started, value=row[0] if row else None)
    except (OdbcError, pyodbc.Error) as exc:
        message = str(exc) if isinstance(exc, OdbcError) else _message(exc)
        return Probe(False, time.perf_counter() - started, error=redact(message))


def execute(name: str, statement: str, params: tuple = ()) -> None:
    with connect(name) as connection:
        try:
            connection.execute(statement, params)
        except pyodbc.Error as exc:
            raise OdbcError(name, _message(exc)) from None


def read_batches(
    name: str, query: str, batch_size: int = 10_000
) -> Iterator[pa.RecordBatch]:
    """Stream a query's rows as Arrow record batches."""
    try:
        connection = arrow_odbc.connect(
            connection_string(name),
            login_timeout_sec=settings.CONFIG.datasources[name].timeout,
        )
        reader = connection.read_arrow_batches(query, batch_size=batch_size)
        yield from reader
    except arrow_odbc.Error as exc:
        raise OdbcError(name, str(exc)) from None


def write_table(
    name: str, table: str, data: pa.Table, chunk_size: int = 10_000
) -> None:
    """Insert an Arrow table into an existing table, all rows in one transaction."""
    text = connection_string(name)
    target = quote_identifier(table, text)
    try:
        connection = arrow_odbc.connect(
            text,
            login_timeout_sec=settings.CONFIG.datasources[name].timeout,
            autocommit=False,
        )
        reader = pa.RecordBatchReader.from_batches(data.schema, data.to_batches())
        try:
            connection.insert_into_table(reader, table=target, chunk_size=chunk_size)
            connection.commit()
        except arrow_odbc.Error:
            connection.rollback()
            raise
    except arrow_odbc.Error as exc:
        raise OdbcError(name, str(exc)) from None


def sqlite_database_path(name: str) -> Path | None:
    """The file behind a SQLite datasource, or None for other drivers."""
    match = _DATABASE_KEY.search(connection_string(name))
    return Path(match.group(2).strip()) if match else None


def _message(exc: Exception) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[1], str):
        return f"{args[1]} (SQLSTATE {args[0]})"
    return str(exc)
