"""Data the Disparo pages show: chart series, rows read back from a sink."""

from __future__ import annotations

from collections.abc import Iterator

from django.utils.translation import gettext as _

from dispatch.models import Dispatch, DispatchRun, RunStatus
from mlframework.lib import odbc

CHART_RUNS = 200
PREVIEW_ROWS = 20


def chart(dispatch: Dispatch) -> dict:
    """Duration and rows of the last finished runs, oldest first."""
    runs = list(
        dispatch.runs.filter(status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED])
        .exclude(started=None)
        .exclude(finished=None)
        .order_by("-id")
        .values("pk", "status", "started", "finished", "rows_written")[:CHART_RUNS]
    )
    runs.reverse()
    return {
        "labels": [r["started"].isoformat(timespec="seconds") for r in runs],
        "seconds": [
            round((r["finished"] - r["started"]).total_seconds(), 2) for r in runs
        ],
        "rows": [r["rows_written"] for r in runs],
        "failed": [r["status"] == RunStatus.FAILED for r in runs],
    }


def _query(run: DispatchRun) -> str:
    dispatch = run.dispatch
    table = odbc.quote(dispatch.sink_datasource, dispatch.sink_table)
    column = odbc.quote(dispatch.sink_datasource, "run_id")
    return f"SELECT * FROM {table} WHERE {column} = {int(run.pk)}"  # noqa: S608


def sink_preview(run: DispatchRun) -> dict | None:
    """The first rows the run wrote, read back from the sink; None if it wrote none."""
    if run.status != RunStatus.SUCCEEDED or not run.rows_written:
        return None
    try:
        columns, rows = odbc.preview(
            run.dispatch.sink_datasource, _query(run), PREVIEW_ROWS
        )
    except (odbc.OdbcError, ValueError) as exc:
        return {"error": _("The sink cannot be read: %(error)s") % {"error": exc}}
    if not rows:
        return {
            "error": _(
                "The sink holds none of this run's rows any more "
                "(replaced by a later run, or deleted)."
            )
        }
    return {"columns": columns, "rows": [[row[c] for c in columns] for row in rows]}


def sink_rows(run: DispatchRun) -> Iterator[list] | None:
    """Header then every row the run wrote, streamed from the sink."""
    if run.status != RunStatus.SUCCEEDED:
        return None
    try:
        batches = odbc.read_batches(run.dispatch.sink_datasource, _query(run), 10_000)
        first = next(batches, None)
    except (odbc.OdbcError, ValueError):
        return None

    def rows() -> Iterator[list]:
        if first is None:
            return
        yield first.schema.names
        for batch in _chain(first, batches):
            columns = [column.to_pylist() for column in batch.columns]
            yield from (list(row) for row in zip(*columns, strict=True))

    return rows()


def _chain(first, rest):
    yield first
    yield from rest
