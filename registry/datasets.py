"""Uploaded training files: streamed to disk by content hash, read, profiled.

A file is stored once under var/datasets/<sha256>.<ext> however often it is
uploaded. CSV comes in the dialects spreadsheets write (comma or semicolon,
decimal commas, UTF-8 with or without BOM, Latin-1); Parquet and Excel are
read with pyarrow and openpyxl. Files are only ever parsed as data, never
unpickled.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from django.conf import settings
from django.db import IntegrityError
from django.utils.translation import gettext as _

from mlframework.core import numbers
from mlframework.events.log import log_event
from mlframework.lib.batches import delete_in_batches
from registry import profiling
from registry.errors import DatasetError
from registry.models import Dataset

SOURCE = "registry"
PROFILE_ROWS = 50_000  # the profile and histograms come from the first rows
CHUNK_ROWS = 100_000
SNIFF_BYTES = 256 * 1024
EXTENSIONS = {
    Dataset.Format.CSV: "csv",
    Dataset.Format.PARQUET: "parquet",
    Dataset.Format.EXCEL: "xlsx",
}
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")


def root() -> Path:
    path = settings.CONFIG.path(settings.CONFIG.paths.datasets)
    path.mkdir(parents=True, exist_ok=True)
    return path


def path_of(dataset: Dataset) -> Path:
    return root() / f"{dataset.sha256}.{EXTENSIONS[dataset.format]}"


def max_bytes() -> int:
    return settings.CONFIG.training.max_upload_mb * 1024 * 1024


# --- Storing ----------------------------------------------------------------


def check_request_size(content_length: int) -> None:
    """Refuse an upload by its declared length, before Django spools it to disk."""
    # The multipart envelope adds a few hundred bytes to the file itself.
    if content_length > max_bytes() + 64 * 1024:
        raise DatasetError(
            _(
                "The upload (%(size)s MB) is larger than the %(limit)s MB upload "
                "limit (training.max_upload_mb)."
            )
            % {
                "size": numbers.grouped(content_length / (1024 * 1024), 1),
                "limit": max_bytes() // (1024 * 1024),
            }
        )


def _spool(chunks: Iterable[bytes], limit: int, filename: str) -> tuple[Path, str, int]:
    """Write chunks to a temp file beside the store; return (path, sha256, size)."""
    digest = hashlib.sha256()
    size = 0
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below
        dir=root(), prefix=".upload-", delete=False
    )
    path = Path(handle.name)
    try:
        with handle:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise DatasetError(
                        _(
                            "%(file)s is larger than the %(limit)s MB upload limit "
                            "(training.max_upload_mb)."
                        )
                        % {"file": filename, "limit": limit // (1024 * 1024)}
                    )
                digest.update(chunk)
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise DatasetError(_("%(file)s is empty.") % {"file": filename})
    return path, digest.hexdigest(), size


@contextlib.contextmanager
def spooled(chunks: Iterable[bytes], filename: str) -> Iterator[Path]:
    """An upload on disk for the length of the block, within the upload
    limit, never stored as a dataset (on-demand checks read it once)."""
    path, _digest, _size = _spool(chunks, max_bytes(), filename)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def detect_format(path: Path, filename: str) -> str:
    with open(path, "rb") as handle:
        head = handle.read(8)
    suffix = Path(filename).suffix.lower()
    if head.startswith(b"PAR1"):
        return Dataset.Format.PARQUET
    if head.startswith(b"PK\x03\x04"):
        if suffix in (".xlsx", ".xlsm", ""):
            return Dataset.Format.EXCEL
        raise DatasetError(
            _(
                "%(file)s is a zip archive; upload the CSV, Parquet or Excel "
                "(.xlsx) file itself."
            )
            % {"file": filename}
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise DatasetError(
            _("%(file)s is an old Excel (.xls) file; save it as .xlsx or CSV.")
            % {"file": filename}
        )
    if suffix in (".parquet", ".pq") or suffix in (".xlsx", ".xlsm"):
        raise DatasetError(
            _("%(file)s does not look like the %(suffix)s file its name says.")
            % {"file": filename, "suffix": suffix}
        )
    return Dataset.Format.CSV


def store_upload(
    chunks: Iterable[bytes], *, filename: str, name: str = "", user=None
) -> tuple[Dataset, bool]:
    """Store an uploaded file; return (dataset, created).

    Refused files (too large, empty, unreadable, duplicate column names)
    raise DatasetError and leave nothing behind.
    """
    temp, sha256, size = _spool(chunks, max_bytes(), filename)
    try:
        existing = Dataset.objects.filter(sha256=sha256).first()
        if existing is not None and path_of(existing).exists():
            return existing, False
        file_format = detect_format(temp, filename)
        options = sniff(temp, filename) if file_format == Dataset.Format.CSV else {}
        info = describe(temp, file_format, options, filename)
        target = root() / f"{sha256}.{EXTENSIONS[file_format]}"
        os.replace(temp, target)
        try:
            dataset, created = Dataset.objects.update_or_create(
                sha256=sha256,
                defaults={
                    "name": (name or Path(filename).stem)[:200],
                    "format": file_format,
                    "read_options": options,
                    "size_bytes": size,
                    "rows": info["rows"],
                    "columns": [c["name"] for c in info["columns"]],
                    "profile": info,
                    "created_by": user if getattr(user, "pk", None) else None,
                },
            )
        except IntegrityError:  # the same file, uploaded at the same moment
            dataset, created = Dataset.objects.get(sha256=sha256), False
    finally:
        temp.unlink(missing_ok=True)
    if created:
        log_event(
            SOURCE,
            "dataset.uploaded",
            f"Dataset {dataset.name} uploaded: {dataset.rows} rows, "
            f"{len(dataset.columns)} columns, {size} bytes",
            user=user,
            data={"dataset": dataset.pk, "sha256": sha256},
        )
    return dataset, created


def store_file(path: Path, *, name: str = "", user=None) -> tuple[Dataset, bool]:
    """Store a file from disk (demo data, benchmarks) as if uploaded."""

    def chunks():
        with open(path, "rb") as handle:
            yield from iter(lambda: handle.read(1 << 20), b"")

    return store_upload(chunks(), filename=path.name, name=name, user=user)


# --- Reading ----------------------------------------------------------------


def _encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)  # a cut character at the end is fine
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def sniff(path: Path, filename: str = "") -> dict:
    """Delimiter, decimal separator and encoding of a CSV file."""
    with open(path, "rb") as handle:
        sample = handle.read(SNIFF_BYTES)
    encoding = _encoding(sample)
    text = sample.decode(encoding, errors="ignore")
    lines = text.splitlines()
    if len(sample) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    if not lines or not lines[0].strip():
        raise DatasetError(
            _("%(file)s has no header line.") % {"file": filename or path.name}
        )
    header = lines[0]
    delimiter = max(",;\t|", key=header.count)
    if header.count(delimiter) == 0:
        delimiter = ","
    decimal = "."
    if delimiter != ",":
        cells = [
            cell.strip().strip('"')
            for row in csv.reader(
                io.StringIO("\n".join(lines[1:200])), delimiter=delimiter
            )
            for cell in row
        ]
        if any(_DECIMAL_COMMA.match(cell) for cell in cells):
            decimal = ","
    return {"delimiter": delimiter, "decimal": decimal, "encoding": encoding}


def _csv_kwargs(options: dict) -> dict:
    return {
        "sep": options.get("delimiter", ","),
        "decimal": options.get("decimal", "."),
        "encoding": options.get("encoding", "utf-8"),
    }


def _check_header(names: list, filename: str) -> None:
    # An empty Excel cell comes as NaN (or None): no name, not "nan".
    cleaned = ["" if pd.isna(name) else str(name).strip() for name in names]
    if any(not name or name.lower().startswith("unnamed:") for name in cleaned):
        position = next(
            i
            for i, n in enumerate(cleaned, 1)
            if not n or n.lower().startswith("unnamed:")
        )
        raise DatasetError(
            _("%(file)s: column %(position)s has no name in the header.")
            % {"file": filename, "position": position}
        )
    seen, duplicates = set(), []
    for name in cleaned:
        if name in seen and name not in duplicates:
            duplicates.append(name)
        seen.add(name)
    if duplicates:
        raise DatasetError(
            _(
                "%(file)s has duplicate column names: %(names)s. "
                "Rename them so every column has its own name."
            )
            % {"file": filename, "names": ", ".join(duplicates)}
        )


def _csv_header(path: Path, options: dict) -> list[str]:
    with open(path, encoding=options.get("encoding", "utf-8"), newline="") as handle:
        return next(csv.reader(handle, delimiter=options.get("delimiter", ",")), [])


def _read(path: Path, file_format: str, options: dict, *, nrows: int | None = None):
    if file_format == Dataset.Format.CSV:
        return pd.read_csv(path, nrows=nrows, **_csv_kwargs(options))
    if file_format == Dataset.Format.PARQUET:
        parquet = pq.ParquetFile(path)
        if nrows is None:
            return parquet.read().to_pandas()
        batches = parquet.iter_batches(batch_size=nrows)
        first = next(batches, None)
        if first is None:
            return parquet.schema_arrow.empty_table().to_pandas()
        return first.to_pandas()
    return pd.read_excel(path, nrows=nrows, engine="openpyxl")


def _header(path: Path, file_format: str, options: dict) -> list:
    if file_format == Dataset.Format.CSV:
        return _csv_header(path, options)
    if file_format == Dataset.Format.PARQUET:
        return list(pq.ParquetFile(path).schema_arrow.names)
    first = pd.read_excel(path, nrows=1, header=None, engine="openpyxl")
    return list(first.iloc[0]) if len(first) else []


def _count_rows(path: Path, file_format: str, options: dict, sample_rows: int) -> int:
    if file_format == Dataset.Format.PARQUET:
        return pq.ParquetFile(path).metadata.num_rows
    if file_format == Dataset.Format.EXCEL or sample_rows < PROFILE_ROWS:
        return sample_rows
    rows = 0
    # One column, in chunks: memory stays flat however long the file is.
    for chunk in pd.read_csv(
        path, usecols=[0], chunksize=CHUNK_ROWS, **_csv_kwargs(options)
    ):
        rows += len(chunk)
    return rows


def describe(path: Path, file_format: str, options: dict, filename: str) -> dict:
    """Check the header and build the profile; DatasetError if unreadable."""
    try:
        _check_header(_header(path, file_format, options), filename)
        sample = _read(path, file_format, options, nrows=PROFILE_ROWS)
        rows = _count_rows(path, file_format, options, len(sample))
    except DatasetError:
        raise
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:
        raise DatasetError(_unreadable(filename, exc)) from exc
    except Exception as exc:  # pyarrow/openpyxl raise their own types
        raise DatasetError(_unreadable(filename, exc)) from exc
    if sample.columns.empty:
        raise DatasetError(_("%(file)s has no columns.") % {"file": filename})
    if rows == 0:
        raise DatasetError(_("%(file)s has a header but no rows.") % {"file": filename})
    info = profiling.profile(sample)
    info["rows"] = rows
    info["profiled_rows"] = len(sample)
    return info


def read_for_checks(
    dataset: Dataset, label: str
) -> tuple[pd.DataFrame, profiling.LabelStats | None]:
    """(first rows, the whole label column's statistics) for checks in a web
    request.

    A small file is read whole (stats None: take them from the frame); a large
    one as its first PROFILE_ROWS rows plus the label column streamed in
    batches of CHUNK_ROWS, so checking a training request never loads a large
    file (or its label column) into the web process.
    """
    if dataset.rows <= PROFILE_ROWS or dataset.format == Dataset.Format.EXCEL:
        return read_frame(dataset), None
    path = path_of(dataset)
    if not path.exists():
        return read_frame(dataset), None  # raises the "missing" DatasetError
    try:
        sample = _read(path, dataset.format, dataset.read_options, nrows=PROFILE_ROWS)
        if label not in sample.columns:
            return sample, None
        stats = profiling.LabelStats()
        for batch in _label_batches(path, dataset, label):
            stats.add(batch)
    except Exception as exc:
        raise DatasetError(
            _("Dataset %(name)s could not be read: %(error)s")
            % {"name": dataset.name, "error": _short(exc)}
        ) from exc
    return sample, stats


def read_chunks(
    path: Path, filename: str = "", *, rows: int = CHUNK_ROWS, nrows: int | None = None
) -> Iterator[pd.DataFrame]:
    """Any CSV, Parquet or Excel file's rows in frames of `rows`, parsed as an
    upload is (format by its first bytes, CSV dialect sniffed, header
    checked), at most `nrows` in all. A file with a header and no rows gives
    one empty frame, so its columns can still be checked. DatasetError names
    the file and what is wrong, also for a problem found midway."""
    filename = filename or path.name
    try:
        file_format = detect_format(path, filename)
        options = sniff(path, filename) if file_format == Dataset.Format.CSV else {}
        _check_header(_header(path, file_format, options), filename)
        chunks = _chunks(path, file_format, options, rows, nrows)
        while True:
            chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk
    except DatasetError:
        raise
    except Exception as exc:  # pandas, pyarrow and openpyxl raise their own types
        raise DatasetError(_unreadable(filename, exc)) from exc


def _chunks(
    path: Path, file_format: str, options: dict, rows: int, nrows: int | None
) -> Iterator[pd.DataFrame]:
    if file_format == Dataset.Format.CSV:
        with pd.read_csv(
            path, chunksize=rows, nrows=nrows, **_csv_kwargs(options)
        ) as reader:
            yield from reader
        return
    if file_format == Dataset.Format.PARQUET:
        parquet = pq.ParquetFile(path)
        left = parquet.metadata.num_rows if nrows is None else nrows
        if left == 0 or parquet.metadata.num_rows == 0:
            yield parquet.schema_arrow.empty_table().to_pandas()
            return
        for batch in parquet.iter_batches(batch_size=rows):
            yield batch.slice(0, left).to_pandas()
            left -= min(left, batch.num_rows)
            if left == 0:
                return
        return
    # openpyxl reads a sheet whole; an .xlsx is bounded by the upload limit.
    frame = pd.read_excel(path, nrows=nrows, engine="openpyxl")
    for start in range(0, max(len(frame), 1), rows):
        yield frame.iloc[start : start + rows]


def _label_batches(path: Path, dataset: Dataset, label: str) -> Iterator[pd.Series]:
    if dataset.format == Dataset.Format.PARQUET:
        for batch in pq.ParquetFile(path).iter_batches(
            batch_size=CHUNK_ROWS, columns=[label]
        ):
            yield batch.column(0).to_pandas()
        return
    for chunk in pd.read_csv(
        path,
        usecols=[label],
        chunksize=CHUNK_ROWS,
        **_csv_kwargs(dataset.read_options),
    ):
        yield chunk[label]


def read_frame(dataset: Dataset) -> pd.DataFrame:
    """The whole dataset as a DataFrame; DatasetError if it cannot be read."""
    path = path_of(dataset)
    if not path.exists():
        raise DatasetError(
            _(
                "The file of dataset %(name)s is missing from the server; "
                "upload it again."
            )
            % {"name": dataset.name}
        )
    try:
        frame = _read(path, dataset.format, dataset.read_options)
    except Exception as exc:
        raise DatasetError(
            _("Dataset %(name)s could not be read: %(error)s")
            % {"name": dataset.name, "error": _short(exc)}
        ) from exc
    return frame


def _unreadable(filename: str, exc: Exception) -> str:
    return _("%(file)s could not be read: %(error)s") % {
        "file": filename,
        "error": _short(exc),
    }


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def prune_unused(before, batch: int) -> int:
    """Delete datasets uploaded before `before` that no version (of any
    status) and no training job uses, with their files."""
    unused = Dataset.objects.filter(
        created__lt=before, versions__isnull=True, jobs__isnull=True
    )
    return delete_in_batches(unused, batch, on_batch=_remove_files)


def _remove_files(chosen: list[Dataset]) -> None:
    for dataset in chosen:
        path_of(dataset).unlink(missing_ok=True)
