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
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from mlframework.core import numbers
from mlframework.events.log import log_event
from mlframework.lib.batches import delete_in_batches
from registry import parsing, profiling
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
    chunks: Iterable[bytes],
    *,
    filename: str,
    name: str = "",
    user=None,
    language: str = "",
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
        if file_format == Dataset.Format.EXCEL:
            options = excel_options(temp, filename)
        info = describe(
            temp, file_format, options, filename, hint=_hint(options, language)
        )
        target = root() / f"{sha256}.{EXTENSIONS[file_format]}"
        os.replace(temp, target)
        try:
            dataset, created = Dataset.objects.update_or_create(
                sha256=sha256,
                defaults={
                    "name": (name or Path(filename).stem)[:200],
                    "format": file_format,
                    "read_options": options,
                    "column_types": info.pop("column_types"),
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


def _text_csv_kwargs(options: dict) -> dict:
    # Every cell as the text the file holds: registry.parsing types it.
    return {
        "sep": options.get("delimiter", ","),
        "encoding": options.get("encoding", "utf-8"),
        "dtype": parsing.TEXT_DTYPE,
        "keep_default_na": False,
        "na_filter": False,
    }


def _hint(options: dict, language: str = "") -> str:
    """The number convention to take when no column of the file decides: a
    ``;`` delimiter is what spreadsheets with a decimal comma write."""
    if options.get("decimal") == "," or options.get("delimiter") == ";":
        return parsing.COMMA
    return parsing.convention_of_language(language) if language else ""


# --- Excel: sheets and the header row --------------------------------------

TITLE_ROWS = 20  # a header is looked for in the first rows of a sheet


def sheet_names(path: Path, filename: str = "") -> list[str]:
    try:
        with pd.ExcelFile(path, engine="openpyxl") as book:
            return [str(name) for name in book.sheet_names]
    except Exception as exc:  # openpyxl raises its own types
        raise DatasetError(
            _("%(file)s could not be read: %(error)s")
            % {"file": filename or path.name, "error": _short(exc)}
        ) from exc


def _sheet_cells(path: Path, sheet: str, filename: str) -> pd.DataFrame:
    """A sheet's cells (typed as Excel holds them), no header taken, empty
    rows and columns at the edges dropped."""
    names = sheet_names(path, filename)
    if sheet not in names:
        raise DatasetError(
            _("%(file)s has no sheet named %(sheet)r; its sheets are: %(names)s.")
            % {"file": filename, "sheet": sheet, "names": ", ".join(names)}
        )
    cells = pd.read_excel(
        path, sheet_name=sheet, header=None, dtype=object, engine="openpyxl"
    )
    return cells.dropna(how="all").dropna(axis=1, how="all")


def _title_rows(cells: pd.DataFrame) -> int:
    """Rows above the header: those using fewer columns than the header."""
    head = cells.head(TITLE_ROWS)
    counts = head.notna().sum(axis=1).tolist()
    width = max(counts, default=0)
    for index, count in enumerate(counts):
        if count * 2 > width:
            return index
    return 0


def excel_options(
    path: Path, filename: str, sheet: str = "", header_row: int = 0
) -> dict:
    """The sheet to read (given, else the first that holds cells) and the
    sheet row of its header (given, else found below any title rows)."""
    names = sheet_names(path, filename)
    if not sheet:
        for name in names:
            if not _sheet_cells(path, name, filename).empty:
                sheet = name
                break
        else:
            raise DatasetError(
                _("%(file)s: every sheet is empty.") % {"file": filename}
            )
    cells = _sheet_cells(path, sheet, filename)
    if cells.empty:
        raise DatasetError(
            _("%(file)s: the sheet %(sheet)r is empty.")
            % {"file": filename, "sheet": sheet}
        )
    last = int(cells.index[-1]) + 1
    if header_row:
        if header_row > last:
            raise DatasetError(
                _(
                    "%(file)s, sheet %(sheet)r: the header cannot be on row "
                    "%(row)s; the sheet's last row is %(last)s."
                )
                % {"file": filename, "sheet": sheet, "row": header_row, "last": last}
            )
    else:
        header_row = int(cells.index[_title_rows(cells)]) + 1
    return {"sheet": sheet, "header_row": header_row, "sheets": names}


def _excel_frame(
    path: Path, options: dict, filename: str, nrows: int | None = None
) -> pd.DataFrame:
    if "sheet" not in options:  # stored before sheets were chosen
        return pd.read_excel(path, nrows=nrows, engine="openpyxl")
    sheet, header_row = options["sheet"], int(options.get("header_row") or 1)
    cells = _sheet_cells(path, sheet, filename)
    header = cells.loc[cells.index == header_row - 1]
    if header.empty:
        raise DatasetError(
            _("%(file)s, sheet %(sheet)r: row %(row)s, the header, is empty.")
            % {"file": filename, "sheet": sheet, "row": header_row}
        )
    names = header.iloc[0].tolist()
    _check_header(names, filename)
    body = cells.loc[cells.index > header_row - 1]
    body.columns = [str(name).strip() for name in names]
    body = body.reset_index(drop=True)
    return body.head(nrows) if nrows is not None else body


# --- Typed reading ---------------------------------------------------------


def types_of(dataset: Dataset) -> tuple[parsing.ColumnType, ...]:
    """The column types the dataset is read with (detected, or the user's)."""
    return tuple(parsing.ColumnType.from_json(c) for c in dataset.column_types or ())


def _raw(
    path: Path,
    file_format: str,
    options: dict,
    nrows: int | None = None,
    filename: str = "",
):
    """The first rows as the file holds them: CSV as text, Excel cells and
    Parquet columns with their own types."""
    if file_format == Dataset.Format.CSV:
        return pd.read_csv(path, nrows=nrows, **_text_csv_kwargs(options))
    if file_format == Dataset.Format.EXCEL:
        return _excel_frame(path, options, filename or path.name, nrows)
    return _read(path, file_format, options, nrows=nrows)


def _read(
    path: Path,
    file_format: str,
    options: dict,
    *,
    nrows: int | None = None,
    types: tuple[parsing.ColumnType, ...] = (),
):
    if types:
        frames = list(_chunks(path, file_format, options, CHUNK_ROWS, nrows, types))
        if len(frames) == 1:
            return frames[0]
        return pd.concat(frames, ignore_index=True)
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
    return _excel_frame(path, options, path.name, nrows)


def _header(path: Path, file_format: str, options: dict, filename: str = "") -> list:
    if file_format == Dataset.Format.CSV:
        return _csv_header(path, options)
    if file_format == Dataset.Format.PARQUET:
        return list(pq.ParquetFile(path).schema_arrow.names)
    if "sheet" in options:
        return list(_excel_frame(path, options, filename or path.name, 0).columns)
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


def describe(
    path: Path,
    file_format: str,
    options: dict,
    filename: str,
    *,
    hint: str = "",
    corrections: dict | None = None,
) -> dict:
    """Check the header, detect the column types (with the user's
    `corrections`), build the profile; DatasetError if unreadable. The
    types are in the result's "column_types" (ColumnType JSON)."""
    try:
        _check_header(_header(path, file_format, options, filename), filename)
        raw = _raw(path, file_format, options, PROFILE_ROWS, filename)
        detection = parsing.detect(raw, hint=hint)
        types = parsing.corrected(detection.columns, corrections or {})
        types = tuple(
            parsing.recount(t, raw[t.name]) if t.by == "user" else t for t in types
        )
        sample = parsing.apply(raw, types)
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
    info["column_types"] = [t.to_json() for t in types]
    info["conventions"] = {"number": detection.file_number, "date": detection.file_date}
    info["hint"] = hint
    return info


def retype(
    dataset: Dataset,
    *,
    corrections: dict | None = None,
    sheet: str | None = None,
    header_row: int | None = None,
    user=None,
) -> Dataset:
    """Read the dataset again with the user's column types (or another sheet
    or header row: the types are then detected afresh) and save the types
    and profile. DatasetError names what is wrong; nothing is saved then."""
    path = path_of(dataset)
    if not path.exists():
        read_frame(dataset)  # raises the "missing" DatasetError
    options = dict(dataset.read_options)
    kept = {}
    if sheet is not None or header_row is not None:
        if dataset.format != Dataset.Format.EXCEL:
            raise DatasetError(_("Only Excel files have sheets and a header row."))
        options = excel_options(
            path,
            dataset.name,
            sheet or options.get("sheet", ""),
            header_row or 0,
        )
    else:
        kept = {
            c.name: {"type": c.type, "convention": c.convention, "percent": c.percent}
            for c in types_of(dataset)
            if c.by == "user"
        }
    for name, change in (corrections or {}).items():
        parsing.check_correction(name, change["type"], change.get("convention", ""))
    info = describe(
        path,
        dataset.format,
        options,
        dataset.name,
        hint=(dataset.profile or {}).get("hint", ""),
        corrections={**kept, **(corrections or {})},
    )
    with transaction.atomic():
        dataset.read_options = options
        dataset.column_types = info.pop("column_types")
        dataset.rows = info["rows"]
        dataset.columns = [c["name"] for c in info["columns"]]
        dataset.profile = info
        dataset.save(
            update_fields=["read_options", "column_types", "rows", "columns", "profile"]
        )
    changed = sorted(corrections or {})
    log_event(
        SOURCE,
        "dataset.retyped",
        f"Dataset {dataset.name} read again"
        + (f": column types of {', '.join(changed)} set by hand" if changed else "")
        + (
            f" (sheet {options['sheet']}, header row {options['header_row']})"
            if "sheet" in options
            else ""
        ),
        user=user,
        data={"dataset": dataset.pk, "corrections": corrections or {}},
    )
    return dataset


def lineage_info(dataset: Dataset) -> dict:
    """What a version's lineage keeps of how its dataset was read, so its
    rows can be rebuilt the same way after later corrections."""
    return {
        "read_options": dict(dataset.read_options),
        "column_types": list(dataset.column_types or ()),
        "corrected_columns": [c.name for c in types_of(dataset) if c.by == "user"],
    }


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
    types = types_of(dataset)
    try:
        sample = _read(
            path, dataset.format, dataset.read_options, nrows=PROFILE_ROWS, types=types
        )
        if label not in sample.columns:
            return sample, None
        stats = profiling.LabelStats()
        for batch in _label_batches(path, dataset, label, types):
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
    checked, column types detected on the first frame and applied to all,
    registry.parsing), at most `nrows` in all. A file with a header and no
    rows gives one empty frame, so its columns can still be checked.
    DatasetError names the file and what is wrong, also for a problem found
    midway."""
    filename = filename or path.name
    try:
        file_format = detect_format(path, filename)
        options = sniff(path, filename) if file_format == Dataset.Format.CSV else {}
        if file_format == Dataset.Format.EXCEL:
            options = excel_options(path, filename)
        _check_header(_header(path, file_format, options, filename), filename)
        first = _raw(path, file_format, options, min(rows, nrows or rows), filename)
        types = parsing.detect(first, hint=_hint(options)).columns
        # Values that do not fit stay as text: the check names them.
        chunks = _chunks(
            path, file_format, options, rows, nrows, types, filename, keep_misfits=True
        )
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
    path: Path,
    file_format: str,
    options: dict,
    rows: int,
    nrows: int | None,
    types: tuple[parsing.ColumnType, ...] = (),
    filename: str = "",
    keep_misfits: bool = False,
) -> Iterator[pd.DataFrame]:
    if file_format == Dataset.Format.CSV:
        kwargs = _text_csv_kwargs(options) if types else _csv_kwargs(options)
        with pd.read_csv(path, chunksize=rows, nrows=nrows, **kwargs) as reader:
            for chunk in reader:
                yield _typed(chunk, types, keep_misfits=keep_misfits)
        return
    if file_format == Dataset.Format.PARQUET:
        parquet = pq.ParquetFile(path)
        left = parquet.metadata.num_rows if nrows is None else nrows
        if left == 0 or parquet.metadata.num_rows == 0:
            yield _typed(parquet.schema_arrow.empty_table().to_pandas(), types)
            return
        for batch in parquet.iter_batches(batch_size=rows):
            yield _typed(batch.slice(0, left).to_pandas(), types)
            left -= min(left, batch.num_rows)
            if left == 0:
                return
        return
    # openpyxl reads a sheet whole; an .xlsx is bounded by the upload limit.
    frame = _excel_frame(path, options, filename or path.name, nrows)
    frame = _typed(frame, types, keep_misfits=keep_misfits)
    for start in range(0, max(len(frame), 1), rows):
        yield frame.iloc[start : start + rows]


def _typed(frame: pd.DataFrame, types: tuple[parsing.ColumnType, ...], **kwargs):
    return parsing.apply(frame, types, **kwargs) if types else frame


def _label_batches(
    path: Path, dataset: Dataset, label: str, types=()
) -> Iterator[pd.Series]:
    label_types = tuple(t for t in types if t.name == label)
    if dataset.format == Dataset.Format.PARQUET:
        for batch in pq.ParquetFile(path).iter_batches(
            batch_size=CHUNK_ROWS, columns=[label]
        ):
            yield _typed(batch.to_pandas(), label_types)[label]
        return
    kwargs = (
        _text_csv_kwargs(dataset.read_options)
        if types
        else _csv_kwargs(dataset.read_options)
    )
    for chunk in pd.read_csv(path, usecols=[label], chunksize=CHUNK_ROWS, **kwargs):
        yield _typed(chunk, label_types)[label]


def read_frame(dataset: Dataset, *, lineage: dict | None = None) -> pd.DataFrame:
    """The whole dataset as a DataFrame; DatasetError if it cannot be read.

    With a version's `lineage` dataset entry, read as that version was
    trained (its read options and column types), whatever was changed since.
    """
    path = path_of(dataset)
    if not path.exists():
        raise DatasetError(
            _(
                "The file of dataset %(name)s is missing from the server; "
                "upload it again."
            )
            % {"name": dataset.name}
        )
    options, types = dataset.read_options, types_of(dataset)
    if lineage and "column_types" in lineage:
        options = lineage.get("read_options") or options
        types = tuple(parsing.ColumnType.from_json(c) for c in lineage["column_types"])
    try:
        frame = _read(path, dataset.format, options, types=types)
    except DatasetError:
        raise
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
