"""On-demand drift checks: any file or any read-only query against a version's
reference, giving the report a dispatch run would give.

The rows stream in batches through registry.services.predict_batch, so the
predictions are checked too; nothing is written (no sink, no RunDrift).
Bounded by monitor.check_max_rows rows and, for a query, the datasource's
query_timeout. Bad input is a CheckError naming what and where; an empty file
or result is a report whose state is "no rows".
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
from django.conf import settings

from mlframework.core import roles
from mlframework.lib import odbc
from monitor.drift import runs
from monitor.drift.accumulator import DriftAccumulator
from monitor.drift.report import DriftReport
from monitor.models import ModelMonitoring
from registry import datasets
from registry import services as registry
from registry.drift_reference import Reference
from registry.errors import DatasetError, ModelUnavailable, SchemaError

logger = logging.getLogger("mlframework.monitor")

BATCH_ROWS = 10_000
NO_ROWS = "no rows"
# As the dispatch runner reads: small fetch buffers, unbounded text columns
# (TEXT) read with this many bytes per value.
READ_BUFFER_BYTES = 4 * 1024 * 1024
READ_MAX_TEXT_BYTES = 4096
FILE, DATASOURCE, SQL = "file", "datasource", "sql"
# Who may check: whoever may try models in the Showroom or run dispatches.
PERMISSIONS = (roles.SHOWROOM, roles.OPERATE)


class CheckError(Exception):
    """Input a drift check cannot use; str() says what and where, `field`
    which input ("file", "datasource", "sql"; None: the version)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def max_rows() -> int:
    return settings.CONFIG.monitor.check_max_rows


def check_file(
    version,
    upload,
    *,
    filename: str = "",
    limit: int | None = None,
) -> DriftReport:
    """Drift of a CSV, Parquet or Excel file: a path, or an uploaded file
    (anything with .chunks() and .name, spooled to disk within the upload
    limit and removed after)."""
    limit = limit or max_rows()
    if isinstance(upload, str | Path):
        path = Path(upload)
        return _check_path(version, path, filename or path.name, limit)
    name = filename or getattr(upload, "name", "") or "the upload"
    try:
        with datasets.spooled(upload.chunks(), name) as path:
            return _check_path(version, path, name, limit)
    except DatasetError as exc:
        raise CheckError(str(exc), field=FILE) from None


def _check_path(version, path: Path, name: str, limit: int) -> DriftReport:
    if not path.is_file():
        raise CheckError(f"{name}: there is no such file.", field=FILE)
    chunks = datasets.read_chunks(path, name, rows=BATCH_ROWS, nrows=limit + 1)
    try:
        return _measure(
            version,
            chunks,
            where=name,
            field=FILE,
            too_many=(
                f"{name} has more than {limit} rows, the most a drift check reads "
                "(monitor.check_max_rows); check a part of it."
            ),
            limit=limit,
        )
    except DatasetError as exc:
        raise CheckError(str(exc), field=FILE) from None


def check_query(
    version, datasource: str, sql: str, *, limit: int | None = None
) -> DriftReport:
    """Drift of a query's result, read in a read-only session after
    odbc.check_read_only, stopped at the datasource's query_timeout."""
    limit = limit or max_rows()
    known = odbc.datasource_names()
    if datasource not in known:
        raise CheckError(
            f"There is no datasource {datasource!r} in config.yaml (known: "
            f"{', '.join(known) or 'none'}).",
            field=DATASOURCE,
        )
    try:
        read = odbc.check_read_only(datasource, sql)
    except odbc.ReadOnlyError as exc:
        raise CheckError(f"The query is refused: {exc}", field=SQL) from None
    timeout = settings.CONFIG.datasources[datasource].query_timeout
    # The server stops one row past the limit: enough to tell there are more.
    batches = odbc.read_batches(
        datasource,
        read.limited(limit + 1),
        batch_size=BATCH_ROWS,
        max_bytes_per_batch=READ_BUFFER_BYTES,
        max_text_size=READ_MAX_TEXT_BYTES,
        streaming=True,
        timeout=timeout,
    )
    where = f"The result of the query on {datasource}"
    try:
        with contextlib.closing(batches):
            report = _measure(
                version,
                _joined(batches, BATCH_ROWS),
                where=where,
                field=SQL,
                too_many=(
                    f"The query returns more than {limit} rows, the most a drift "
                    "check reads (monitor.check_max_rows); narrow it (WHERE, LIMIT)."
                ),
                limit=limit,
            )
    except odbc.QueryTimeout:
        raise CheckError(
            f"{datasource}: the check ran longer than {timeout} s, the datasource's "
            f"query_timeout (datasources.{datasource}.query_timeout), and was "
            "stopped; narrow the query (WHERE, LIMIT).",
            field=SQL,
        ) from None
    except odbc.OdbcError as exc:
        raise CheckError(f"The query could not be read: {exc}", field=SQL) from None
    if report.rows == 0:
        # No batch came, so no column was seen: the columns still must fit.
        names, _ = _columns_of(datasource, sql, timeout)
        _check_columns(version, names, where)
    return report


def _joined(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """The small fetched batches (wide text columns get small fetch buffers)
    joined into tables of about `rows`: predicting per fetched batch of a few
    hundred rows costs 4x the time."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _columns_of(datasource: str, sql: str, timeout: int):
    try:
        return odbc.preview(datasource, sql, rows=1, timeout=timeout)
    except odbc.OdbcError as exc:
        raise CheckError(f"The query could not be read: {exc}", field=SQL) from None


def _check_columns(version, names: list[str], where: str) -> None:
    check = registry.check_schema(version, names)
    if not check.ok:
        raise CheckError(f"{where}: {check.message(version)}", field=SQL)


def accumulator_for(version) -> DriftAccumulator:
    """The version's reference with its model's settings; a reference that
    cannot be read is the report's state, as in a run."""
    settings_ = runs.settings_of(ModelMonitoring.of(version.model))
    try:
        return DriftAccumulator.for_version(version, settings=settings_)
    except Exception as exc:  # a broken reference is a state, not a failure
        logger.exception("drift reference of %s unusable", version)
        return DriftAccumulator(
            Reference.unavailable(f"{type(exc).__name__}: {exc}"[:400]),
            settings=settings_,
        )


def _measure(
    version,
    batches: Iterable[pa.Table | pd.DataFrame],
    *,
    where: str,
    field: str,
    too_many: str,
    limit: int,
) -> DriftReport:
    accumulator = accumulator_for(version)
    offset = 0
    for batch in batches:
        rows = len(batch)
        if offset + rows > limit:
            raise CheckError(too_many, field=field)
        try:
            registry.predict_batch(version, batch, hooks=[accumulator.hook])
        except SchemaError as exc:
            raise CheckError(_bad_input(exc, where, offset), field=field) from None
        except ModelUnavailable as exc:
            raise CheckError(str(exc)) from None
        offset += rows
    report = accumulator.report()
    if report.rows == 0 and not report.state:
        report = dataclasses.replace(report, state=NO_ROWS)
    return report


def _bad_input(exc: SchemaError, where: str, offset: int) -> str:
    bad = exc.bad_value
    if bad is None:
        return f"{where}: {exc}"
    # The rows stream in batches: name the row of the whole input (1-based,
    # the header not counted).
    kind = {"numbers": "a number", "dates": "a date"}.get(bad.expected, "valid")
    return (
        f"{where}, row {offset + bad.row + 1}, column {bad.column}: "
        f"{bad.value!r} is not {kind}."
    )
