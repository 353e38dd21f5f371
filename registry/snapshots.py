"""Datasets snapshotted from a datasource's SQL query.

The query is checked and run read-only through the ODBC adapter, its Arrow
batches written as they arrive into a Parquet file of fixed row groups (never
the whole result in memory), and the file stored by its content hash like an
upload: the same rows give the same file, so snapshotting them again gives
the same Dataset, and a version's lineage points at the exact rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import gettext as _

from mlframework.events.log import log_event
from mlframework.lib import odbc
from registry import datasets
from registry.errors import SnapshotError
from registry.models import Dataset

SOURCE = "registry"
# Fixed row groups: the drivers' batch sizes differ by engine and column
# width, and the file (so its hash) must depend on the rows alone.
ROW_GROUP_ROWS = 65_536
BATCH_ROWS = 16_384
# Fetch buffers are sized for a column's widest value; this caps a batch.
BATCH_BYTES = 64 * 1024 * 1024
MAX_TEXT_BYTES = 64 * 1024
PREVIEW_ROWS = 20


def snapshot_query(
    datasource: str,
    query: str,
    *,
    params: Mapping[str, str] | None = None,
    name: str = "",
    user=None,
) -> tuple[Dataset, bool]:
    """Run a read-only query on a datasource and store its rows as a Parquet
    dataset; return (dataset, created). `params` are the values of the
    query's :name parameters, bound by the driver, never put into the SQL.

    Refusals (a query that writes or does not parse, parameters that do not
    match, zero rows, too many rows, a timeout, unusable columns) raise
    SnapshotError naming what is wrong, and leave no row and no file behind.
    """
    params = {str(key): value for key, value in (params or {}).items()}
    _check(datasource, query, params)
    snapshot_at = timezone.now()
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - removed below
        dir=datasets.root(), prefix=".snapshot-", suffix=".parquet", delete=False
    )
    handle.close()
    temp = Path(handle.name)
    try:
        _write(datasource, query, params, temp)
        sha256 = _sha256(temp)
        existing = Dataset.objects.filter(sha256=sha256).first()
        if existing is not None and datasets.path_of(existing).exists():
            return existing, False
        title = (name or f"{datasource} {snapshot_at:%Y-%m-%d %H:%M}")[:200]
        info = datasets.describe(temp, Dataset.Format.PARQUET, {}, title)
        target = datasets.root() / f"{sha256}.parquet"
        size = temp.stat().st_size
        os.replace(temp, target)
        try:
            dataset, created = Dataset.objects.update_or_create(
                sha256=sha256,
                defaults={
                    "name": title,
                    "format": Dataset.Format.PARQUET,
                    "read_options": {},
                    "size_bytes": size,
                    "rows": info["rows"],
                    "columns": [c["name"] for c in info["columns"]],
                    "profile": info,
                    "source": Dataset.Source.QUERY,
                    "datasource": datasource,
                    "query": query.strip(),
                    "params": params,
                    "snapshot_at": snapshot_at,
                    "created_by": user if getattr(user, "pk", None) else None,
                },
            )
        except IntegrityError:  # the same rows, snapshotted at the same moment
            dataset, created = Dataset.objects.get(sha256=sha256), False
        except BaseException:
            target.unlink(missing_ok=True)  # no file without its row
            raise
    finally:
        temp.unlink(missing_ok=True)
    if created:
        log_event(
            SOURCE,
            "dataset.snapshotted",
            f"Dataset {dataset.name} snapshotted from {datasource}: "
            f"{dataset.rows} rows, {len(dataset.columns)} columns, {size} bytes",
            user=user,
            data={
                "dataset": dataset.pk,
                "sha256": sha256,
                "datasource": datasource,
                "params": params,
            },
        )
    return dataset, created


def preview(
    datasource: str, query: str, *, params: Mapping[str, str] | None = None
) -> tuple[list[str], list[dict]]:
    """The query's column names and first PREVIEW_ROWS rows, read-only and
    within the datasource's query_timeout; SnapshotError if refused."""
    params = {str(key): value for key, value in (params or {}).items()}
    _check(datasource, query, params)
    try:
        return odbc.preview(datasource, query, PREVIEW_ROWS, params=params)
    except odbc.OdbcError as exc:
        raise _refusal(exc) from None


def max_rows() -> int:
    return settings.CONFIG.training.max_query_rows


def _check(datasource: str, query: str, params: dict) -> None:
    """What can be refused before connecting: the datasource, the query's
    read-only check, its parameters."""
    if datasource not in odbc.datasource_names():
        raise SnapshotError(
            _("%(name)s is not a configured datasource (datasources in config.yaml).")
            % {"name": datasource},
            field="datasource",
        )
    try:
        odbc.bind(datasource, odbc.check_read_only(datasource, query), params)
    except odbc.OdbcError as exc:
        raise _refusal(exc) from None


def _refusal(exc: odbc.OdbcError) -> SnapshotError:
    field = "params" if isinstance(exc, odbc.ParameterError) else "query"
    return SnapshotError(str(exc), field=field)


def _write(datasource: str, query: str, params: dict, path: Path) -> int:
    """Stream the query's rows into a Parquet file at `path`; its row count."""
    cap = max_rows()
    batches = odbc.read_batches(
        datasource,
        query,
        BATCH_ROWS,
        max_bytes_per_batch=BATCH_BYTES,
        streaming=True,
        max_text_size=MAX_TEXT_BYTES,
        params=params,
    )
    rows = 0
    try:
        with _RowGroups(path) as groups:
            for batch in batches:
                rows += batch.num_rows
                if rows > cap:
                    raise SnapshotError(
                        _(
                            "The query returns more than %(cap)s rows, the most a "
                            "snapshot may hold (training.max_query_rows); narrow it "
                            "with WHERE, or raise the limit."
                        )
                        % {"cap": f"{cap:,}"}
                    )
                groups.add(batch)
    except odbc.OdbcError as exc:
        raise _refusal(exc) from None
    finally:
        batches.close()  # ends the read and its connection now, not at collection
    if rows == 0:
        raise SnapshotError(
            _("The query returned no rows; there is nothing to train on.")
        )
    return rows


class _RowGroups:
    """A Parquet file written in row groups of exactly ROW_GROUP_ROWS rows
    (the last one shorter), whatever the sizes of the batches added."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.pending: list[pa.Table] = []
        self.rows = 0

    def __enter__(self) -> _RowGroups:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self._flush(final=True)
        if self.writer is not None:
            with contextlib.suppress(OSError):
                self.writer.close()

    def add(self, batch: pa.RecordBatch) -> None:
        if self.schema is None:
            self.schema = training_schema(batch.schema)
            self.writer = pq.ParquetWriter(self.path, self.schema)
        self.pending.append(_cast(pa.Table.from_batches([batch]), self.schema))
        self.rows += batch.num_rows
        self._flush()

    def _flush(self, final: bool = False) -> None:
        while self.rows >= ROW_GROUP_ROWS or (final and self.rows):
            table = pa.concat_tables(self.pending)
            size = min(ROW_GROUP_ROWS, self.rows)
            # Contiguous columns: page boundaries then depend on the rows only.
            self.writer.write_table(
                table.slice(0, size).combine_chunks(), row_group_size=size
            )
            rest = table.slice(size)
            self.pending, self.rows = ([rest] if rest.num_rows else []), rest.num_rows


def training_schema(schema: pa.Schema) -> pa.Schema:
    """The snapshot's schema: the same for the same rows from any engine
    (64-bit numbers, nullable, no driver metadata). SnapshotError names a
    column without a name, a repeated name, or a type training cannot use."""
    names = [field.name for field in schema]
    for position, column in enumerate(names, 1):
        if not column.strip():
            raise SnapshotError(
                _("Column %(position)s of the query has no name; give it one with AS.")
                % {"position": position}
            )
    repeated = sorted({column for column in names if names.count(column) > 1})
    if repeated:
        raise SnapshotError(
            _(
                "The query returns more than one column named %(names)s; give "
                "each column its own name with AS."
            )
            % {"names": ", ".join(repeated)}
        )
    fields = []
    for field in schema:
        target = _training_type(field.type)
        if target is None:
            raise SnapshotError(
                _(
                    "Column %(name)s holds %(type)s values, which training cannot "
                    "use; leave it out of the query or CAST it to text or a number."
                )
                % {"name": field.name, "type": field.type}
            )
        fields.append(pa.field(field.name, target, nullable=True))
    return pa.schema(fields)


def _training_type(kind: pa.DataType) -> pa.DataType | None:
    if pa.types.is_boolean(kind):
        return pa.bool_()
    if pa.types.is_integer(kind):
        return pa.int64()
    # Decimals become floats: pandas would read them as Python objects, which
    # training takes for text.
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return pa.float64()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pa.string()
    if pa.types.is_null(kind):
        return pa.string()
    # Dates as timestamps: pandas reads Arrow dates as Python objects.
    if pa.types.is_date(kind):
        return pa.timestamp("us")
    if pa.types.is_timestamp(kind):
        return pa.timestamp("ns" if kind.unit == "ns" else "us", tz=kind.tz)
    return None


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SnapshotError(
            _("A value of the query does not fit its column's type: %(error)s")
            % {"error": str(exc).splitlines()[0][:300]}
        ) from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
