"""Where the Showroom's cases come from: the model's case query on a
datasource, or sample rows of the version's training data."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.utils.translation import gettext as _

from mlframework.lib import odbc
from registry import datasets, services
from showroom.services import jsonable


class CaseError(Exception):
    """Cases could not be listed; str() says why, for the page."""


@dataclass
class Cases:
    origin: str  # "query" | "sample"
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


def run_query(datasource: str, query: str, max_rows: int) -> Cases:
    """The first max_rows rows of a case query: checked read-only, limited in
    the SQL, stopped after the datasource's query_timeout."""
    if max_rows < 1:
        raise CaseError(_("Ask for at least one row."))
    try:
        columns, rows = odbc.preview(datasource, query, max_rows)
    except odbc.ReadOnlyError as exc:
        raise CaseError(
            _("The case query is refused: %(error)s") % {"error": exc}
        ) from None
    except odbc.OdbcError as exc:
        raise CaseError(
            _("The case query failed: %(error)s") % {"error": exc}
        ) from None
    if not rows:
        return Cases("query", note=_("The case query returned no rows."))
    return Cases("query", columns, rows)


def from_source(source) -> Cases:
    """The cases of a configured CaseSource."""
    return run_query(source.datasource, source.query, source.max_rows)


def sample(version, size: int) -> Cases:
    """Sample rows of the data the version was trained on.

    The label column stays in, shown as the known answer next to the
    prediction (the model ignores it).
    """
    try:
        frame = _sample_frame(version, size)
    except Exception as exc:  # the registry's errors are user-facing sentences
        return Cases("sample", note=_("No sample rows: %(error)s") % {"error": exc})
    if frame is None:
        return Cases(
            "sample", note=_("The registry keeps no training data for this version.")
        )
    if len(frame) == 0:
        return Cases("sample", note=_("The training data has no rows to sample."))
    rows = [
        {str(key): jsonable(value) for key, value in row.items()}
        for row in frame.head(size).to_dict(orient="records")
    ]
    return Cases("sample", [str(c) for c in frame.columns], rows)


# (version, dataset, size) -> sample rows: each file is read once per process.
_samples: dict[tuple, Any] = {}
_samples_lock = threading.Lock()
# Larger training files are not read on a page view: their first rows, kept
# by the registry when the file was profiled, serve instead.
READ_LIMIT_BYTES = 16 * 1024 * 1024


def _sample_frame(version, size: int):
    reader = getattr(services, "sample_rows", None)
    if reader is not None:
        return reader(version, size)
    if not version.dataset_id:
        return None
    dataset = version.dataset
    if dataset.size_bytes > READ_LIMIT_BYTES:
        return _profiled_sample(dataset)

    key = (version.pk, str(version.created), dataset.sha256, size)
    with _samples_lock:
        if key not in _samples:
            frame = datasets.read_frame(dataset)
            count = min(size, len(frame))
            # A fixed seed: the same cases every time, so "predict case 3"
            # means the same row in the browser and on the server.
            _samples[key] = frame.sample(count, random_state=0).sort_index()
        return _samples[key]


def _profiled_sample(dataset) -> pd.DataFrame:
    profile = dataset.profile or {}
    names = [column["name"] for column in profile.get("columns", [])]
    return pd.DataFrame(profile.get("sample", []), columns=names)
