"""Fixtures for the realised-performance tests: real dispatch runs of the tiny
models into a real engine, an actuals table beside them, monitoring settings.

Imported by name into the test modules that use them."""

from __future__ import annotations

import contextlib
import itertools
import uuid

import pandas as pd
import pyarrow as pa
import pytest

_names = itertools.count(1)


@pytest.fixture
def realised_tables():
    """Uniquely named tables, each dropped after the test."""
    from mlframework.lib import odbc

    made: list[tuple[str, str]] = []

    def name(datasource: str, prefix: str = "t") -> str:
        table = f"{prefix}_{uuid.uuid4().hex[:10]}"
        made.append((datasource, table))
        return table

    yield name
    for datasource, table in made:
        with contextlib.suppress(odbc.OdbcError):
            odbc.execute(datasource, f"DROP TABLE IF EXISTS {table}")


def write_table(datasource: str, table: str, frame: pd.DataFrame, types=None) -> str:
    from mlframework.lib import odbc

    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    odbc.create_table(datasource, table, arrow.schema, types=types)
    odbc.write_table(datasource, table, arrow)
    return table


@pytest.fixture
def dispatch_into(realised_tables, penguins_frame, _realised_crontab_cleanup):
    """A dispatch of `version` scoring the penguins (without its label) from
    a fresh source table into a fresh sink in `datasource`."""
    from dispatch.models import Dispatch

    def make(version, datasource: str = "demo", **fields) -> Dispatch:
        source = write_table(
            datasource,
            realised_tables(datasource, "src"),
            penguins_frame.drop(columns=[version.label]),
        )
        values = {
            "name": f"realised-{next(_names)}",
            "model": version.model,
            "version_ref": "production",
            "source_datasource": datasource,
            "source_query": f"SELECT * FROM {source}",
            "sink_datasource": datasource,
            "sink_table": realised_tables(datasource, "sink"),
            "key_columns": ["id"],
            "include_probabilities": True,
            "chunk_size": 100,
            "cron": "5 * * * *",
            "enabled": False,
        }
        values.update(fields)
        return Dispatch.objects.create(**values)

    return make


@pytest.fixture
def run_dispatch():
    """Run a dispatch now, the way cron does; it must succeed."""
    from dispatch import runner
    from dispatch.models import RunStatus

    def run(dispatch):
        done = runner.run_scheduled(dispatch.pk)
        assert done.status == RunStatus.SUCCEEDED, done.error
        return done

    return run


@pytest.fixture
def _realised_crontab_cleanup():
    yield
    from dispatch import crontab

    crontab.remove_all()


@pytest.fixture
def actuals_in(realised_tables):
    """An actuals table in `datasource` holding `frame`; returns its name."""

    def make(datasource: str, frame: pd.DataFrame, types=None) -> str:
        return write_table(
            datasource, realised_tables(datasource, "act"), frame, types=types
        )

    return make


def monitor(model, datasource: str, query: str, **fields):
    from monitor.models import ModelMonitoring

    values = {"actuals_datasource": datasource, "actuals_query": query}
    values.update(fields)
    monitoring, _ = ModelMonitoring.objects.update_or_create(
        model=model, defaults=values
    )
    return monitoring


def sink_frame(datasource: str, table: str) -> pd.DataFrame:
    from mlframework.lib import odbc

    batches = list(odbc.read_batches(datasource, f"SELECT * FROM {table}"))
    return pa.Table.from_batches(batches).to_pandas()


def truth_of(penguins_frame: pd.DataFrame, label: str, wrong_every: int = 0):
    """The true labels by id; with `wrong_every`, every n-th label swapped
    for another class (so the realised accuracy is not the model's own)."""
    frame = penguins_frame[["id", label]].dropna().rename(columns={label: "actual"})
    frame = frame.reset_index(drop=True)
    if wrong_every:
        classes = sorted(frame["actual"].unique())
        for index in range(0, len(frame), wrong_every):
            current = frame.at[index, "actual"]
            frame.at[index, "actual"] = classes[
                (classes.index(current) + 1) % len(classes)
            ]
    return frame
