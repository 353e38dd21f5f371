"""The dispatch test world: a registered model, dispatch factories, cleanup of
this run's crontab lines."""

import contextlib
import itertools

import pytest

from conftest import ODBC_DATASOURCES, require_datasource

_names = itertools.count(1)


@pytest.fixture
def registered_model(db):
    from registry.models import RegisteredModel

    return RegisteredModel.objects.get_or_create(name="penguins")[0]


@pytest.fixture
def make_dispatch(registered_model, _crontab_cleanup):
    """Build (unsaved unless save=True) dispatches with sensible defaults."""
    from dispatch.models import Dispatch

    def make(save: bool = True, **fields) -> Dispatch:
        values = {
            "name": f"scores-{next(_names)}",
            "model": registered_model,
            "version_ref": "production",
            "source_datasource": "demo",
            "source_query": "SELECT * FROM penguins",
            "sink_datasource": "demo",
            "sink_table": "penguin_scores",
            "cron": "*/5 * * * *",
            "timezone": "UTC",
            "enabled": False,
        }
        values.update(fields)
        dispatch = Dispatch(**values)
        if save:
            dispatch.save()
        return dispatch

    return make


@pytest.fixture(autouse=True)
def _crontab_cleanup():
    """Whatever a test installed under this run's tag is removed after it."""
    yield
    from dispatch import crontab

    crontab.remove_all()


@pytest.fixture(params=ODBC_DATASOURCES)
def datasource(request):
    """Each real ODBC driver in turn: SQLite3, MariaDB Unicode, PostgreSQL Unicode."""
    require_datasource(request.param)
    return request.param


@pytest.fixture
def tables():
    """Make uniquely named tables; every one is dropped after the test."""
    import uuid

    from mlframework.lib import odbc

    made: list[tuple[str, str]] = []

    def name(datasource: str, prefix: str = "t") -> str:
        table = f"{prefix}_{uuid.uuid4().hex[:10]}"
        made.append((datasource, table))
        return table

    yield name
    for datasource, table in made:
        # The server may have been stopped by the test.
        with contextlib.suppress(odbc.OdbcError):
            odbc.execute(datasource, f"DROP TABLE IF EXISTS {table}")


@pytest.fixture
def source_table(tables, penguins_frame):
    """The penguins, without species, as a source table in a datasource."""
    import pyarrow as pa

    from mlframework.lib import odbc

    def make(datasource: str, frame=None) -> str:
        table = tables(datasource, "src")
        data = penguins_frame.drop(columns=["species"]) if frame is None else frame
        arrow = pa.Table.from_pandas(data, preserve_index=False)
        odbc.create_table(datasource, table, arrow.schema)
        odbc.write_table(datasource, table, arrow)
        return table

    return make


def sink_rows(datasource: str, table: str, order: str = "id") -> list[dict]:
    import pyarrow as pa

    from mlframework.lib import odbc

    batches = list(
        odbc.read_batches(datasource, f"SELECT * FROM {table} ORDER BY {order}")
    )
    return pa.Table.from_batches(batches).to_pylist() if batches else []


def sink_count(datasource: str, table: str) -> int:
    from mlframework.lib import odbc

    if not odbc.table_exists(datasource, table):
        return 0
    return odbc.probe(datasource, f"SELECT COUNT(*) FROM {table}").value
