"""The demo dispatch: score the demo penguins every 5 minutes.

Idempotent: `make setup` calls it on every start. The model ("penguins"
alias production) is trained in the background by the registry's demo step;
until it exists, runs fail cleanly with an event saying so.
"""

from __future__ import annotations

import pyarrow as pa

from dispatch import crontab, services
from dispatch.models import Dispatch, SinkMode
from mlframework.core import demo
from mlframework.lib import odbc
from registry.models import RegisteredModel

NAME = "penguins-demo"
MODEL = "penguins"
SOURCE_TABLE = "penguins_to_score"
SINK_TABLE = "penguins_scored"

SINK_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("prediction", pa.string()),
        ("run_id", pa.int64()),
        ("model_version", pa.string()),
        ("run_key", pa.string()),
        ("scored_at", pa.timestamp("ms")),
    ]
)


def ensure_tables() -> list[str]:
    """Create the demo source and sink tables if missing; names those made."""
    made = []
    if not odbc.table_exists(demo.DATASOURCE, SOURCE_TABLE):
        frame = demo.read_csv().drop(columns=["species"])
        data = pa.Table.from_pandas(frame, preserve_index=False)
        odbc.create_table(demo.DATASOURCE, SOURCE_TABLE, data.schema)
        odbc.write_table(demo.DATASOURCE, SOURCE_TABLE, data)
        made.append(SOURCE_TABLE)
    if not odbc.table_exists(demo.DATASOURCE, SINK_TABLE):
        odbc.create_table(
            demo.DATASOURCE,
            SINK_TABLE,
            SINK_SCHEMA,
            types={"run_key": "VARCHAR(64)", "model_version": "VARCHAR(100)"},
            index=["run_key"],
        )
        made.append(SINK_TABLE)
    return made


def ensure_dispatch() -> tuple[Dispatch, bool]:
    """The demo dispatch, created (enabled, in the crontab) if missing."""
    existing = Dispatch.objects.filter(name=NAME).first()
    if existing is not None:
        if existing.enabled:
            crontab.install(existing)  # a lost line comes back on every setup
        return existing, False
    # The demo model may still be training: its row is what the dispatch
    # points at; training fills in the versions (get_or_create there too).
    model, _ = RegisteredModel.objects.get_or_create(
        name=MODEL, defaults={"description": "Palmer penguins species (demo)"}
    )
    dispatch = Dispatch(
        name=NAME,
        description="Scores the demo penguins every 5 minutes (demo).",
        model=model,
        version_ref="production",
        source_datasource=demo.DATASOURCE,
        source_query=f"SELECT * FROM {SOURCE_TABLE}",  # noqa: S608 - a constant
        sink_datasource=demo.DATASOURCE,
        sink_table=SINK_TABLE,
        sink_mode=SinkMode.REPLACE_RUN_KEY,
        run_key_format="%Y-%m-%d",
        key_columns=["id"],
        cron="*/5 * * * *",
        timezone="UTC",
        enabled=True,
        chunk_size=10_000,
    )
    return services.save(dispatch, None, created=True), True
