"""The ODBC adapter: named datasources from config.yaml.

pyodbc serves small queries and probes; arrow-odbc serves bulk reads and
writes as Arrow record batches (faster by far: see the recipes' measurements).
Every driver error leaves this module as OdbcError, with
credentials masked.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import arrow_odbc
import numpy as np
import pyarrow as pa
import pyodbc
from arrow_odbc.writer import BatchWriter
from django.conf import settings

from mlframework.lib.odbc import dialects, readonly
from mlframework.lib.odbc.dialects import Dialect
from mlframework.lib.redact import redact

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_DATABASE_KEY = re.compile(r"(?i)(\bdatabase\s*=\s*)([^;]+)")
_DRIVER = re.compile(r"(?i)\bdriver\s*=\s*\{([^}]*)\}")


class OdbcError(Exception):
    """A datasource could not be reached or a statement failed."""

    def __init__(self, datasource: str, message: str) -> None:
        self.datasource = datasource
        super().__init__(f"{datasource}: {redact(message)}")


class ReadOnlyError(OdbcError):
    """A query that may not run on a read path (it writes, or is not one SELECT)."""


class QueryTimeout(OdbcError):
    """A query ran past its datasource's timeout and was stopped."""


class ParameterError(OdbcError):
    """A query's :name parameters and the values given do not match."""


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


def _streaming(text: str) -> str:
    # The SQLite3 driver otherwise holds a whole result set in memory;
    # stepping row by row streams at the same speed, but reports computed
    # columns (expressions) as text.
    if "sqlite" in driver_name(text).lower() and "stepapi" not in text.lower():
        return text.rstrip(";") + ";StepAPI=1"
    return text


def quote_identifier(name: str, connection: str = "") -> str:
    """Validate a user-given table or column name and quote it for the driver
    of `connection` (a connection string); see quote() for a datasource's."""
    return dialects.for_driver(driver_name(connection)).quote(_valid(name))


def quote(datasource: str, identifier: str) -> str:
    """Validate a user-given table or column name and quote it for a datasource."""
    return dialect(datasource).quote(_valid(identifier))


def _valid(name: str) -> str:
    if not _IDENTIFIER.match(name or ""):
        raise ValueError(
            f"{name!r} is not a valid name: use letters, digits and _, "
            "starting with a letter or _, at most 64 characters"
        )
    return name


def dialect(name: str) -> Dialect:
    """The engine behind a datasource: declared (datasources.<name>.engine) or
    read from its driver's name."""
    engine = _datasource(name).engine
    if engine != "auto":
        return dialects.BY_ENGINE[engine]
    return dialects.for_driver(driver_name(connection_string(name)))


def warm_parser() -> None:
    """Build the SQL parser's tables now, not on a process's first read path."""
    readonly.warm()


def check_read_only(name: str, query: str) -> readonly.ReadQuery:
    """The one decision whether a query may run on a read path of a datasource:
    parsed in its dialect, exactly one statement that only reads."""
    try:
        return readonly.check(query, dialect(name))
    except readonly.NotReadOnly as exc:
        raise ReadOnlyError(name, str(exc)) from None


def bind(
    name: str,
    read: readonly.ReadQuery,
    params: Mapping[str, object] | None,
    text: str | None = None,
) -> tuple[str, list[str | None] | None]:
    """A checked query's text with its :name parameters as ? and their values
    (None: no parameters asked for, the text as it is)."""
    if params is None:
        return (read.text if text is None else text), None
    try:
        return read.bind(params, text)
    except readonly.ParameterError as exc:
        raise ParameterError(name, str(exc)) from None


def _datasource(name: str):
    try:
        return settings.CONFIG.datasources[name]
    except KeyError:
        raise OdbcError(name, "is not a configured datasource") from None


def _make_read_only(name: str, execute, timeout: int) -> None:
    """Open the session read-only and bound its statements' time, where the
    engine can (see dialects): the second guard, after check_read_only."""
    engine = dialect(name)
    for statement in engine.read_only:
        try:
            execute(statement)
        except (pyodbc.Error, arrow_odbc.Error) as exc:
            raise OdbcError(
                name, f"the session could not be made read-only: {_message(exc)}"
            ) from None
    errors = []
    for statement in engine.timeout_statements(timeout):
        try:
            execute(statement)
            return
        except (pyodbc.Error, arrow_odbc.Error) as exc:
            errors.append(_message(exc))
    if errors:
        raise OdbcError(name, f"the query timeout could not be set: {errors[-1]}")


def _read_connection(name: str, timeout: int, *, autocommit: bool = True):
    """An arrow-odbc connection whose session is read-only."""
    text = connection_string(name)
    try:
        connection = arrow_odbc.connect(
            text, login_timeout_sec=_datasource(name).timeout, autocommit=autocommit
        )
    except arrow_odbc.Error as exc:
        raise OdbcError(name, str(exc)) from None
    _make_read_only(name, connection.execute, timeout)
    return connection


def _connect(name: str, *, autocommit: bool = True) -> pyodbc.Connection:
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
    """Connect and run the datasource's test query, on a read path like every
    other query a user gives (checked, read-only, bounded); never raises."""
    started = time.perf_counter()
    if name not in settings.CONFIG.datasources:
        return Probe(
            False, 0.0, error=str(OdbcError(name, "is not a configured datasource"))
        )
    try:
        read = check_read_only(name, query or _datasource(name).test_query)
        with _connect(name) as connection:
            _make_read_only(name, connection.execute, _datasource(name).query_timeout)
            row = connection.execute(read.text).fetchone()
        return Probe(True, time.perf_counter() - started, value=row[0] if row else None)
    except (OdbcError, pyodbc.Error) as exc:
        message = str(exc) if isinstance(exc, OdbcError) else _message(exc)
        return Probe(False, time.perf_counter() - started, error=redact(message))


def execute(name: str, statement: str, params: tuple = ()) -> None:
    with _connect(name) as connection:
        try:
            connection.execute(statement, params)
        except pyodbc.Error as exc:
            raise OdbcError(name, _message(exc)) from None


def read_batches(
    name: str,
    query: str,
    batch_size: int = 10_000,
    *,
    max_bytes_per_batch: int | None = 512 * 1024 * 1024,
    streaming: bool = False,
    max_text_size: int | None = None,
    timeout: int | None = None,
    params: Mapping[str, object] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream a query's rows as Arrow record batches, on a read path: the
    query is checked (check_read_only) and run in a read-only session.

    Buffers are sized for the widest value a column may hold (VARCHAR(4000),
    TEXT), so `max_bytes_per_batch` caps a batch's rows for wide tables.
    `streaming` keeps memory flat for huge results (SQLite: StepAPI, see
    _streaming). `max_text_size` (bytes) caps the buffer of unbounded text
    columns (TEXT); a longer value is an error, never silently cut.
    `timeout` (s; default the datasource's run_query_timeout) bounds the
    statement on engines that enforce it, and the time between batches on
    the others. `params` gives the values of the query's :name parameters,
    bound by the driver (see bind).
    """
    read = check_read_only(name, query)
    statement, values = bind(name, read, params)
    timeout = timeout or _datasource(name).run_query_timeout
    text = connection_string(name)
    try:
        connection = arrow_odbc.connect(
            _streaming(text) if streaming else text,
            login_timeout_sec=_datasource(name).timeout,
        )
        _make_read_only(name, connection.execute, timeout)
        started = time.monotonic()
        reader = connection.read_arrow_batches(
            statement,
            batch_size=batch_size,
            max_bytes_per_batch=max_bytes_per_batch,
            max_text_size=max_text_size,
            parameters=values,
            query_timeout_sec=timeout,
            map_schema=_wide_floats,
        )
        for batch in reader:
            yield batch
            if time.monotonic() - started > timeout:
                raise QueryTimeout(name, _timeout_message(name, timeout, "run"))
    except arrow_odbc.Error as exc:
        message = str(exc)
        if max_text_size and "too large to be written into the allocated" in message:
            message = (
                f"a text value is longer than {max_text_size} bytes, the most a "
                "column is read with; shorten or cast it in the query "
                f"({message})"
            )
        raise _error(name, message, timeout, "run") from None


def _wide_floats(schema: pa.Schema) -> pa.Schema:
    # psqlODBC reports DOUBLE PRECISION with 17 digits, which arrow-odbc reads
    # as float32, losing digits; float64 holds every float32 exactly too.
    return pa.schema(
        [
            field.with_type(pa.float64()) if pa.types.is_float32(field.type) else field
            for field in schema
        ],
        metadata=schema.metadata,
    )


def _timeout_message(name: str, seconds: int, kind: str) -> str:
    key = "query_timeout" if kind == "preview" else "run_query_timeout"
    return (
        f"the query ran longer than {seconds} s and was stopped "
        f"(datasources.{name}.{key})"
    )


# Servers' words for a statement stopped by its time limit.
_TIMED_OUT = re.compile(
    r"max_statement_time|max_execution_time|statement timeout|canceling statement"
    r"|query execution was interrupted|\binterrupted\b|HYT00|HY008",
    re.IGNORECASE,
)


def _error(name: str, message: str, timeout: int, kind: str) -> OdbcError:
    if _TIMED_OUT.search(message):
        return QueryTimeout(name, _timeout_message(name, timeout, kind))
    return OdbcError(name, message)


def write_table(
    name: str, table: str, data: pa.Table, chunk_size: int = 10_000
) -> None:
    """Insert an Arrow table into an existing table, all rows in one transaction."""
    text = connection_string(name)
    target = quote(name, table)
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


def use_wal(name: str) -> None:
    """Put a SQLite datasource's file in WAL mode (nothing for other engines):
    a source can then be read while a sink's transaction is open on the same
    file, where the default journal would block the writer behind the reader."""
    if not is_sqlite(name):
        return
    path = sqlite_database_path(name)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    with _connect(name) as connection:
        try:
            connection.execute("PRAGMA journal_mode=WAL").fetchall()
        except pyodbc.Error as exc:
            raise OdbcError(name, _message(exc)) from None


def _message(exc: Exception) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[1], str):
        return f"{args[1]} (SQLSTATE {args[0]})"
    return str(exc)


# --------------------------------------------------------------------------
# Streaming sinks (dispatch): one transaction held open across many batches,
# so a run's rows appear all at once or not at all.
# --------------------------------------------------------------------------

_TRANSIENT = re.compile(
    r"SQLSTATE[ :=]*(08\d\d\d|HYT0[01]|40001|40P01)|\b(08S01|08001|08004|HYT00)\b"
    r"|can't connect|lost connection|gone away|database is locked|timed? ?out"
    r"|connection refused|deadlock",
    re.IGNORECASE,
)


def is_transient(error: Exception | str) -> bool:
    """Whether an error looks like it may pass on retry (connection, lock, timeout)."""
    return bool(_TRANSIENT.search(str(error)))


def is_mariadb(name: str) -> bool:
    return dialect(name).engine == "mysql"


def is_sqlite(name: str) -> bool:
    return dialect(name).engine == "sqlite"


def _exists_statement(name: str, table: str) -> str:
    """A query that fails when the table does not exist and returns no rows."""
    target = quote(name, table)
    return f"SELECT 1 FROM {target} WHERE 1 = 0"  # noqa: S608 - quoted identifier


def table_exists(name: str, table: str) -> bool:
    try:
        with _connect(name) as connection:
            connection.execute(_exists_statement(name, table))
        return True
    except pyodbc.Error:
        return False


def sql_type(name: str, arrow_type: pa.DataType) -> str:
    """The column type to create for an Arrow type, per engine."""
    column_type = dialect(name).column_type(arrow_type)
    if column_type is None:
        raise OdbcError(name, f"cannot store values of type {arrow_type} in a column")
    return column_type


def create_table(
    name: str,
    table: str,
    schema: pa.Schema,
    *,
    types: dict[str, str] | None = None,
    index: list[str] | None = None,
) -> None:
    """CREATE TABLE for an Arrow schema (`types` overrides per column)."""
    columns = ", ".join(
        f"{quote(name, f.name)} {(types or {}).get(f.name) or sql_type(name, f.type)}"
        for f in schema
    )
    execute(name, f"CREATE TABLE {quote(name, table)} ({columns})")
    for column in index or []:
        index_name = quote(name, f"ix_{table[:40]}_{column[:20]}")
        execute(
            name,
            f"CREATE INDEX {index_name} ON {quote(name, table)} "
            f"({quote(name, column)})",
        )


class _SchemaOnly:
    # arrow-odbc's writer only needs the schema up front.
    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema


class TransactionWriter:
    """Bulk inserts into one table inside one open transaction.

    Nothing is visible to others until commit(); if the process dies first,
    the database rolls the transaction back.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.text = connection_string(name)
        self._writer = None
        try:
            self._connection = arrow_odbc.connect(
                self.text,
                login_timeout_sec=settings.CONFIG.datasources[name].timeout,
                autocommit=False,
            )
        except arrow_odbc.Error as exc:
            raise OdbcError(name, str(exc)) from None

    def table_exists(self, table: str) -> bool:
        """Whether the table exists, asked on this connection (one connection
        fewer than table_exists()); the check's transaction is rolled back."""
        try:
            self._connection.execute(_exists_statement(self.name, table))
            return True
        except arrow_odbc.Error:
            return False
        finally:
            self.rollback()

    def execute(self, statement: str, params: list[str | None] | None = None) -> None:
        try:
            self._connection.execute(statement, parameters=params)
        except arrow_odbc.Error as exc:
            raise OdbcError(self.name, str(exc)) from None

    def start(self, table: str, schema: pa.Schema, chunk_size: int = 10_000) -> None:
        try:
            self._writer = BatchWriter.from_connection(
                connection_handle=self._connection.handle,
                reader=_SchemaOnly(schema),
                chunk_size=chunk_size,
                table=quote(self.name, table),
            )
        except arrow_odbc.Error as exc:
            raise OdbcError(self.name, str(exc)) from None

    def write(self, batch: pa.RecordBatch) -> None:
        """Insert the batch's rows now (inside the transaction): the rows
        that do not fill the insert buffer are sent too, not kept for the
        next batch."""
        try:
            self._writer.write_batch(batch)
            self._writer.flush()
        except arrow_odbc.Error as exc:
            raise OdbcError(self.name, str(exc)) from None

    def commit(self) -> None:
        try:
            if self._writer is not None:
                self._writer.flush()
            self._connection.commit()
        except arrow_odbc.Error as exc:
            self.rollback()
            raise OdbcError(self.name, str(exc)) from None

    def rollback(self) -> None:
        # If the connection is gone, the database rolls back on its own.
        with contextlib.suppress(arrow_odbc.Error):
            self._connection.rollback()

    def close(self) -> None:
        self._writer = None
        self._connection = None


def read_pages(
    name: str,
    query: str,
    key: str,
    page_size: int = 10_000,
    *,
    first_page_size: int | None = None,
    max_bytes_per_batch: int | None = 512 * 1024 * 1024,
    max_text_size: int | None = None,
    first_page_bytes: int | None = None,
    timeout: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """A query's rows in pages ordered by an integer key column, one query per
    page (`WHERE key > last ORDER BY key LIMIT n`), all in one transaction.

    For drivers that hold a whole result set in memory before the first row
    (MariaDB Connector/ODBC before 3.1.17): memory stays one page, whatever
    the size of the result. The pages share the transaction's snapshot
    (REPEATABLE READ on InnoDB), so rows changed meanwhile are not skipped or
    read twice. The key must be unique, non-null and an integer; anything
    else stops the read with the reason instead of skipping rows.
    `first_page_size` (default: page_size) makes the first page smaller, so
    a consumer can start on it sooner; each next page is then twice the last,
    up to page_size. `first_page_bytes` gives the first page fetch buffers of
    that size, filled on the reading thread: a new process faults fresh
    buffers in page by page, and a second buffer and fetch thread only pay
    off over many batches (bench/RESULTS.md).
    """
    column = quote(name, key)
    source = check_read_only(name, query).text
    engine = dialect(name)
    timeout = timeout or _datasource(name).run_query_timeout
    connection = _read_connection(name, timeout, autocommit=False)
    last = None
    size = int(min(first_page_size or page_size, page_size))
    try:
        while True:
            # After the first page, start AT the last key read: that row comes
            # back first and is dropped, and a second row with the same key
            # (a repeat across the page boundary, which "> last" would skip
            # silently) fails the read.
            where, limit = "", size
            if last is not None:
                where, limit = f"WHERE {column} >= ? ", size + 1
            statement = engine.page(source, column, where, limit)
            opening = last is None and first_page_bytes is not None
            try:
                reader = connection.read_arrow_batches(
                    statement,
                    batch_size=limit,
                    max_bytes_per_batch=(
                        first_page_bytes if opening else max_bytes_per_batch
                    ),
                    max_text_size=max_text_size,
                    parameters=None if last is None else [str(last)],
                    fetch_concurrently=not opening,
                    query_timeout_sec=timeout,
                    map_schema=_wide_floats,
                )
                rows, seen = 0, last
                for batch in reader:
                    if seen is not None and rows == 0 and batch.num_rows:
                        first = batch.column(batch.schema.get_field_index(key))[0]
                        if first.as_py() == seen:
                            batch = batch.slice(1)
                        seen = None
                    last = _check_page_keys(name, key, batch, last)
                    rows += batch.num_rows
                    if batch.num_rows:
                        yield batch
            except arrow_odbc.Error as exc:
                raise _error(name, str(exc), timeout, "run") from None
            if rows < size:
                return
            size = min(size * 2, int(page_size))
    finally:
        with contextlib.suppress(arrow_odbc.Error):
            connection.rollback()  # read only: nothing to keep


def _check_page_keys(name: str, key: str, batch: pa.RecordBatch, last):
    """The last key of the batch, after checking the keys strictly increase."""
    if key not in batch.schema.names:
        raise OdbcError(name, f"the paging column {key} is not in the query's result")
    keys = batch.column(batch.schema.get_field_index(key))
    if not pa.types.is_integer(keys.type):
        raise OdbcError(
            name,
            f"the paging column {key} holds {keys.type}, not integers; page by "
            "an integer key (e.g. the primary key)",
        )
    if keys.null_count:
        raise OdbcError(name, f"the paging column {key} has empty (NULL) values")
    if len(keys) == 0:
        return last
    values = keys.to_numpy(zero_copy_only=False).astype("int64")
    if last is not None:
        values = np.concatenate([np.array([last], dtype="int64"), values])
    repeats = np.nonzero(values[1:] <= values[:-1])[0]
    if repeats.size:
        raise OdbcError(
            name,
            f"the paging column {key} has repeated values (e.g. "
            f"{int(values[repeats[0] + 1])}); page by a unique key",
        )
    return int(values[-1])


def preview(
    name: str,
    query: str,
    rows: int = 5,
    *,
    timeout: int | None = None,
    params: Mapping[str, object] | None = None,
) -> tuple[list[str], list[dict]]:
    """A query's column names and first rows, on a read path: checked, run in
    a read-only session, limited to `rows` in the SQL (so the server stops
    there), and stopped after `timeout` s (default the datasource's
    query_timeout), so a request never waits on it longer. `params` as for
    read_batches."""
    if rows < 1:
        raise OdbcError(name, "ask for at least one row")
    read = check_read_only(name, query)
    statement, values = bind(name, read, params, read.limited(rows))
    timeout = timeout or _datasource(name).query_timeout
    connection = _connect(name)
    watchdog = None
    try:
        _make_read_only(name, connection.execute, timeout)
        cursor = connection.cursor()
        # Engines without a server-side limit (SQLite) are stopped by SQLCancel.
        stopped = threading.Event()

        def stop() -> None:
            stopped.set()
            with contextlib.suppress(pyodbc.Error):
                cursor.cancel()

        watchdog = threading.Timer(timeout + 0.5, stop)
        watchdog.daemon = True
        watchdog.start()
        try:
            cursor.execute(statement, *(values or ()))
            names = [column[0] for column in cursor.description or ()]
            fetched = cursor.fetchmany(rows)
        except pyodbc.Error as exc:
            if stopped.is_set():
                raise QueryTimeout(
                    name, _timeout_message(name, timeout, "preview")
                ) from None
            raise _error(name, _message(exc), timeout, "preview") from None
    finally:
        if watchdog is not None:
            watchdog.cancel()
        with contextlib.suppress(pyodbc.Error):
            connection.rollback()
        connection.close()
    return names, [dict(zip(names, row, strict=True)) for row in fetched]
