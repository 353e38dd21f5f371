"""A dispatch whose source columns are DATE and DATETIME/TIMESTAMP, on the
real SQLite3, MariaDB and PostgreSQL ODBC drivers, scored by a model trained
on date features (registry.parsing read them from a day-first CSV)."""

import pandas as pd
import pyarrow as pa
import pytest

from dispatch import runner
from dispatch.models import RunStatus
from dispatch.tests.conftest import sink_rows
from mlframework.lib import odbc
from registry import datasets, services
from registry.tests.helpers import train_tiny

pytestmark = pytest.mark.django_db(databases=["default", "events"])

# The SQL type of a date and of a date-time per datasource.
MOMENT = {"demo": "DATETIME", "mariadb": "DATETIME", "postgres": "TIMESTAMP"}


@pytest.fixture
def dated_model(db):
    """Trained on a Brazilian export: day-first dates and date-times."""
    lines = ["dia;momento;x;y"]
    for i in range(80):
        day, month = i % 28 + 1, i % 12 + 1
        lines.append(
            f"{day:02d}/{month:02d}/2023;{day:02d}/{month:02d}/2023 {i % 24:02d}:30;"
            f"{i % 7},5;{'segundo' if month > 6 else 'primeiro'}"
        )
    dataset, _ = datasets.store_upload(
        iter([("\n".join(lines) + "\n").encode()]), filename="datas.csv"
    )
    frame = datasets.read_frame(dataset)
    assert frame["dia"].dtype == "datetime64[ns]"
    return train_tiny(frame, "y", "datas", reuse=False)


def _source(datasource: str, tables) -> str:
    table = tables(datasource, "dated")
    odbc.execute(
        datasource,
        f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, dia DATE, "
        f"momento {MOMENT[datasource]}, x DOUBLE PRECISION)",
    )
    rows = [
        (1, "2023-02-05", "2023-02-05 14:30:00", 1.5),
        (2, "2023-11-20", "2023-11-20 08:00:00", 2.5),
        (3, None, None, 3.5),
    ]
    for row in rows:
        odbc.execute(datasource, f"INSERT INTO {table} VALUES (?, ?, ?, ?)", tuple(row))
    return table


@pytest.mark.slow
def test_date_columns_come_as_arrow_types_predict_batch_accepts(
    datasource, tables, dated_model
):
    table = _source(datasource, tables)
    batch = pa.Table.from_batches(
        list(odbc.read_batches(datasource, f"SELECT * FROM {table} ORDER BY id"))
    )
    kinds = {name: str(batch.schema.field(name).type) for name in ("dia", "momento")}
    # Recorded so a driver that changes what it gives shows here first.
    assert kinds["dia"] in ("date32[day]", "string", "timestamp[us]", "timestamp[ns]")
    prediction = services.predict_batch(dated_model, batch)
    assert prediction.rows == 3
    assert set(prediction.labels) <= set(dated_model.classes)
    assert str(prediction.features["dia"].dtype).startswith("datetime64")


@pytest.mark.slow
def test_a_dispatch_scores_a_source_with_date_columns(
    datasource, tables, dated_model, make_dispatch
):
    table = _source(datasource, tables)
    dispatch = make_dispatch(
        model=dated_model.model,
        source_datasource=datasource,
        source_query=f"SELECT * FROM {table}",
        sink_datasource=datasource,
        sink_table=tables(datasource, "sink"),
        key_columns=["id"],
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    rows = sink_rows(datasource, dispatch.sink_table)
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert {r["prediction"] for r in rows} <= set(dated_model.classes)


@pytest.mark.slow
def test_the_version_page_says_date_features_take_autogluon_s_pipeline(
    analyst_client, dated_model, fresh_predictors
):
    rows = pd.DataFrame(
        {"dia": ["2023-02-05"], "momento": ["2023-02-05T10:00"], "x": [1.5]}
    )
    services.predict_batch(dated_model, rows)  # loaded: the shortcuts decided
    page = analyst_client.get(dated_model.get_absolute_url()).content.decode()
    shortcuts = page[page.index('data-testid="shortcuts"') :][:900]
    assert "date feature(s) dia, momento" in shortcuts, shortcuts
