"""registry.snapshots against the real SQLite3, MariaDB and PostgreSQL drivers:
the same rows give the same Parquet file from every engine, parameters are
bound, and every refusal names what is wrong and leaves nothing behind."""

import dataclasses
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.conf import settings

from conftest import ODBC_DATASOURCES, require_datasource
from mlframework.events.models import Event
from mlframework.lib import odbc
from registry import datasets, jobs, snapshots
from registry.errors import SnapshotError
from registry.models import Dataset
from registry.training import TrainOptions

pytestmark = pytest.mark.django_db(databases=["default", "events"])

ROWS = [
    (1, 1.5, "Recife", "yes"),
    (2, -0.25, "O'Brien", "no"),
    (3, None, None, "yes"),
    (4, 1e-7, "Natal", "no"),
]
# A result of millions of rows the server makes without a table.
SLOW = {
    "mariadb": (
        "SELECT count(*) AS c FROM information_schema.COLUMNS a, "
        "information_schema.COLUMNS b, information_schema.COLUMNS c, "
        "information_schema.COLUMNS d"
    ),
    "postgres": "SELECT count(*) AS c FROM generate_series(1, 2000000000) AS x",
}


@pytest.fixture(params=ODBC_DATASOURCES)
def source(request):
    require_datasource(request.param)
    return request.param


@pytest.fixture
def tables():
    """Make uniquely named tables of ROWS; every one is dropped after the test."""
    made: list[tuple[str, str]] = []

    def make(datasource: str, rows=ROWS) -> str:
        table = f"snap_{uuid.uuid4().hex[:10]}"
        double = "DOUBLE PRECISION" if datasource == "postgres" else "DOUBLE"
        odbc.execute(
            datasource,
            f"CREATE TABLE {table} (id INTEGER, x {double}, city VARCHAR(40), "
            "label VARCHAR(10))",
        )
        made.append((datasource, table))
        for row in rows:
            odbc.execute(datasource, f"INSERT INTO {table} VALUES (?, ?, ?, ?)", row)
        return table

    yield make
    for datasource, table in made:
        odbc.execute(datasource, f"DROP TABLE IF EXISTS {table}")


def stored_files() -> list[str]:
    return sorted(path.name for path in datasets.root().iterdir())


def assert_nothing_saved() -> None:
    assert not Dataset.objects.exists()
    assert stored_files() == []  # no snapshot, no temp file


def test_the_same_rows_give_the_same_file_from_every_engine(tables):
    for name in ODBC_DATASOURCES:
        require_datasource(name)
    made = {}
    for name in ODBC_DATASOURCES:
        table = tables(name)
        made[name] = snapshots.snapshot_query(
            name, f"SELECT id, x, city, label FROM {table} ORDER BY id"
        )
    first, created = made["demo"]
    assert created
    assert [created for _, created in made.values()] == [True, False, False]
    assert {dataset.pk for dataset, _ in made.values()} == {first.pk}
    assert Dataset.objects.count() == 1
    content = pq.read_table(datasets.path_of(first))
    assert content.column_names == ["id", "x", "city", "label"]
    assert [str(t) for t in content.schema.types] == [
        "int64",
        "double",
        "string",
        "string",
    ]
    assert [tuple(row.values()) for row in content.to_pylist()] == ROWS
    assert datasets.path_of(first).name == f"{first.sha256}.parquet"


def test_it_snapshots_a_query_and_records_its_source(source, tables, analyst):
    table = tables(source)
    query = f"SELECT id, x, city, label FROM {table} WHERE id >= :first ORDER BY id"
    dataset, created = snapshots.snapshot_query(
        source, query, params={"first": "2"}, name="recent", user=analyst
    )
    assert created and dataset.name == "recent"
    assert dataset.source == Dataset.Source.QUERY and dataset.is_query
    assert (dataset.datasource, dataset.query) == (source, query)
    assert dataset.params == {"first": "2"} and dataset.snapshot_at is not None
    assert dataset.format == Dataset.Format.PARQUET and dataset.created_by == analyst
    assert (dataset.rows, dataset.columns) == (3, ["id", "x", "city", "label"])
    assert dataset.size_bytes == datasets.path_of(dataset).stat().st_size
    # Profiled like an upload, so the train page works on it unchanged.
    kinds = {c["name"]: c["kind"] for c in dataset.profile["columns"]}
    assert kinds == {
        "id": "numeric",
        "x": "numeric",
        "city": "categorical",
        "label": "boolean",  # yes/no, read as an upload's would be (registry.parsing)
    }
    assert dataset.source_info()["datasource"] == source
    assert len(datasets.read_frame(dataset)) == 3
    event = Event.objects.using("events").get(kind="dataset.snapshotted")
    assert event.data["dataset"] == dataset.pk and event.data["datasource"] == source


def test_a_resnapshot_of_the_same_rows_reuses_the_dataset(source, tables):
    table = tables(source)
    first, created = snapshots.snapshot_query(
        source, f"SELECT * FROM {table} ORDER BY id"
    )
    again, again_created = snapshots.snapshot_query(
        source, f"SELECT id, x, city, label FROM {table}  ORDER BY id"
    )
    assert created and not again_created and again.pk == first.pk
    assert again.query == f"SELECT * FROM {table} ORDER BY id"  # the first one's
    odbc.execute(source, f"UPDATE {table} SET city = 'Natal' WHERE id = 1")
    changed, changed_created = snapshots.snapshot_query(
        source, f"SELECT * FROM {table} ORDER BY id"
    )
    assert changed_created and changed.sha256 != first.sha256
    assert len(stored_files()) == 2


def test_a_snapshot_whose_file_went_missing_is_stored_again(tables):
    table = tables("demo")
    first, _ = snapshots.snapshot_query("demo", f"SELECT * FROM {table}")
    datasets.path_of(first).unlink()
    again, _ = snapshots.snapshot_query("demo", f"SELECT * FROM {table}")
    assert again.pk == first.pk and datasets.path_of(again).exists()


def test_params_are_bound_and_a_quote_stays_data(source, tables):
    table = tables(source)
    query = (
        f"SELECT id, city FROM {table} WHERE city = :city OR "
        "(id > :id AND city = :city) ORDER BY id"
    )
    dataset, _ = snapshots.snapshot_query(
        source, query, params={"city": "O'Brien", "id": "9"}
    )
    assert datasets.read_frame(dataset).to_dict("records") == [
        {"id": 2, "city": "O'Brien"}
    ]
    # An injection attempt is a value compared with city, matching nothing.
    with pytest.raises(SnapshotError, match="no rows"):
        snapshots.snapshot_query(
            source,
            f"SELECT id FROM {table} WHERE city = :city",
            params={"city": "x' OR '1'='1"},
        )
    assert odbc.probe(source, f"SELECT COUNT(*) FROM {table}").value == 4


def test_a_colon_in_a_string_or_comment_is_not_a_parameter(tables):
    table = tables("demo")
    dataset, _ = snapshots.snapshot_query(
        "demo",
        f"SELECT id, ':city' AS tag FROM {table} -- :ignored\nWHERE id = :id",
        params={"id": "1"},
    )
    assert datasets.read_frame(dataset).to_dict("records") == [
        {"id": 1, "tag": ":city"}
    ]


@pytest.mark.parametrize(
    ("query", "params", "message"),
    [
        ("SELECT id FROM {t} WHERE id = :id", {}, "uses :id, with no value"),
        ("SELECT id FROM {t}", {"id": "1"}, "given for :id, which the query does"),
        ("SELECT id FROM {t} WHERE id = ?", {}, "holds a \\? placeholder"),
    ],
)
def test_it_refuses_parameters_that_do_not_match(tables, query, params, message):
    table = tables("demo")
    with pytest.raises(SnapshotError, match=message) as caught:
        snapshots.snapshot_query("demo", query.format(t=table), params=params)
    assert caught.value.field == "params"
    assert_nothing_saved()


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM {t}",
        "WITH x AS (SELECT 1) DELETE FROM {t} WHERE id > 0",
        "INSERT INTO {t} VALUES (9, 9, 'nine', 'no')",
        "SELECT * FROM {t}; DROP TABLE {t}",
    ],
)
def test_it_refuses_a_write_statement(source, tables, statement):
    table = tables(source)
    with pytest.raises(SnapshotError, match=r"not a read|statements") as caught:
        snapshots.snapshot_query(source, statement.format(t=table))
    assert caught.value.field == "query"
    assert odbc.probe(source, f"SELECT COUNT(*) FROM {table}").value == 4
    assert_nothing_saved()


def test_it_refuses_a_syntax_error(source):
    with pytest.raises(SnapshotError, match=r"could not be read as .*SQL at line 1"):
        snapshots.snapshot_query(source, "SELECT id FROM WHERE")
    assert_nothing_saved()


def test_it_refuses_a_query_the_server_rejects(source):
    with pytest.raises(SnapshotError, match="no_such_table") as caught:
        snapshots.snapshot_query(source, "SELECT * FROM no_such_table")
    assert "apppass" not in str(caught.value)
    assert_nothing_saved()


def test_it_refuses_an_unknown_datasource():
    with pytest.raises(SnapshotError, match="nowhere is not a configured") as caught:
        snapshots.snapshot_query("nowhere", "SELECT 1")
    assert caught.value.field == "datasource"
    assert_nothing_saved()


def test_it_refuses_zero_rows(source, tables):
    table = tables(source)
    with pytest.raises(SnapshotError, match="returned no rows"):
        snapshots.snapshot_query(source, f"SELECT * FROM {table} WHERE id > 100")
    assert_nothing_saved()


@pytest.fixture
def short_timeout(settings):
    config = settings.CONFIG
    sources = {
        name: dataclasses.replace(ds, query_timeout=1, run_query_timeout=1)
        for name, ds in config.datasources.items()
    }
    settings.CONFIG = dataclasses.replace(config, datasources=sources)


@pytest.mark.parametrize("server", ["mariadb", "postgres"])
def test_it_stops_a_query_at_its_timeout(short_timeout, server):
    require_datasource(server)
    with pytest.raises(SnapshotError, match=r"longer than 1 s.*run_query_timeout"):
        snapshots.snapshot_query(server, SLOW[server])
    assert_nothing_saved()


@pytest.fixture
def row_cap(settings):
    def cap(rows: int) -> None:
        training = dataclasses.replace(settings.CONFIG.training, max_query_rows=rows)
        settings.CONFIG = dataclasses.replace(settings.CONFIG, training=training)

    return cap


def test_it_refuses_more_rows_than_the_cap(source, tables, row_cap):
    table = tables(source)
    row_cap(3)
    with pytest.raises(SnapshotError, match=r"more than 3 rows.*max_query_rows"):
        snapshots.snapshot_query(source, f"SELECT * FROM {table}")
    assert_nothing_saved()
    row_cap(4)
    assert snapshots.snapshot_query(source, f"SELECT * FROM {table}")[0].rows == 4


def test_the_cap_stops_a_long_result_early(row_cap):
    row_cap(50_000)
    many = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
        "WHERE x < 100000000) SELECT x FROM n"
    )
    with pytest.raises(SnapshotError, match="more than 50,000 rows"):
        snapshots.snapshot_query("demo", many)
    assert_nothing_saved()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT id, id FROM {t}", "more than one column named id"),
        ("SELECT id AS a, city AS a FROM {t}", "more than one column named a"),
    ],
)
def test_it_refuses_repeated_column_names(source, tables, query, message):
    table = tables(source)
    with pytest.raises(SnapshotError, match=message):
        snapshots.snapshot_query(source, query.format(t=table))
    assert_nothing_saved()


@pytest.mark.parametrize(
    ("datasource", "query"),
    [("demo", 'SELECT 1 AS ""'), ("mariadb", "SELECT 1 AS ``")],
)
def test_it_refuses_a_column_without_a_name(datasource, query):
    require_datasource(datasource)
    with pytest.raises(SnapshotError, match="Column 1 of the query has no name"):
        snapshots.snapshot_query(datasource, query)
    assert_nothing_saved()


@pytest.mark.parametrize(
    ("datasource", "query", "kind"),
    [
        ("mariadb", "SELECT 1 AS id, CAST('ab' AS BINARY(4)) AS b", "binary"),
        ("mariadb", "SELECT 1 AS id, CAST('12:00:00' AS TIME) AS t", "time32"),
        ("postgres", "SELECT 1 AS id, TIME '12:00' AS t", "time64"),
    ],
)
def test_it_refuses_a_column_type_training_cannot_use(datasource, query, kind):
    require_datasource(datasource)
    with pytest.raises(SnapshotError, match=f"holds {kind}.*CAST it to text"):
        snapshots.snapshot_query(datasource, query)
    assert_nothing_saved()


def test_it_refuses_a_text_value_longer_than_its_buffer(tables):
    table = tables("demo")
    odbc.execute("demo", f"CREATE TABLE {table}_t (note TEXT)")
    try:
        odbc.execute("demo", f"INSERT INTO {table}_t VALUES (?)", ("x" * 5000,))
        with pytest.raises(SnapshotError, match="longer than 4096 bytes"):
            snapshots.snapshot_query("demo", f"SELECT note FROM {table}_t")
    finally:
        odbc.execute("demo", f"DROP TABLE {table}_t")
    assert_nothing_saved()


def test_numbers_dates_and_decimals_take_training_types(source):
    cast = {
        "demo": "SELECT 1 AS n, 2.5 AS d, '2024-01-02' AS day",
        "mariadb": "SELECT 1 AS n, CAST(2.5 AS DECIMAL(5,2)) AS d, "
        "DATE '2024-01-02' AS day",
        "postgres": "SELECT 1 AS n, CAST(2.5 AS NUMERIC(5,2)) AS d, "
        "DATE '2024-01-02' AS day",
    }
    dataset, _ = snapshots.snapshot_query(source, cast[source])
    frame = datasets.read_frame(dataset)
    assert str(frame["n"].dtype) == "int64" and str(frame["d"].dtype) == "float64"
    if source != "demo":  # SQLite has no date type: its dates are text
        assert str(frame["day"].dtype).startswith("datetime64")


def test_a_preview_shows_the_first_rows_and_saves_nothing(source, tables):
    table = tables(source)
    columns, rows = snapshots.preview(
        source,
        f"SELECT id, city FROM {table} WHERE id < :n ORDER BY id",
        params={"n": "3"},
    )
    assert columns == ["id", "city"]
    assert rows == [{"id": 1, "city": "Recife"}, {"id": 2, "city": "O'Brien"}]
    with pytest.raises(SnapshotError, match="DELETE is not a read"):
        snapshots.preview(source, f"DELETE FROM {table}")
    assert_nothing_saved()


def test_a_preview_is_capped_in_rows():
    many = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
        "WHERE x < 100000000) SELECT x FROM n"
    )
    columns, rows = snapshots.preview("demo", many)
    assert columns == ["x"] and len(rows) == snapshots.PREVIEW_ROWS


def test_a_model_trained_on_a_snapshot_names_its_datasource_and_query(
    penguins_frame, analyst
):
    require_datasource("demo")
    table = f"penguins_{uuid.uuid4().hex[:8]}"
    rows = pa.Table.from_pandas(penguins_frame.iloc[::3], preserve_index=False)
    odbc.create_table("demo", table, rows.schema)
    try:
        odbc.write_table("demo", table, rows)
        query = f"SELECT * FROM {table} WHERE island <> :skip ORDER BY id"
        dataset, _ = snapshots.snapshot_query(
            "demo", query, params={"skip": "Nowhere"}, user=analyst
        )
    finally:
        odbc.execute("demo", f"DROP TABLE IF EXISTS {table}")
    assert dataset.rows == rows.num_rows == 115
    options = TrainOptions(label="species", fast=True, time_limit=30, excluded=("id",))
    job = jobs.submit(dataset, "penguins-db", options, user=analyst)
    assert jobs.run(job.pk) == "succeeded"
    job.refresh_from_db()
    version = job.version
    assert version.dataset == dataset
    lineage = version.lineage.dataset
    assert lineage.sha256 == dataset.sha256 and lineage.rows == 115
    assert lineage.extra["source"] == "query"
    assert lineage.extra["datasource"] == "demo"
    assert lineage.extra["query"] == query
    assert lineage.extra["params"] == {"skip": "Nowhere"}
    assert lineage.extra["snapshot_at"] == dataset.snapshot_at.isoformat()


def test_sqlite_computed_columns_keep_their_types():
    # Streamed, the SQLite driver reports computed columns as text.
    dataset, _ = snapshots.snapshot_query(
        "demo", "SELECT 1 + 1 AS n, CAST(5 AS REAL) / 2 AS d, 'a' || 'b' AS s"
    )
    frame = datasets.read_frame(dataset)
    assert frame.to_dict("records") == [{"n": 2, "d": 2.5, "s": "ab"}]
    assert [str(t) for t in frame.dtypes] == ["int64", "float64", "object"]


def test_a_sqlite_column_that_changes_type_is_refused_with_the_fix():
    with pytest.raises(
        SnapshotError, match=r"Column x holds a value that is not int64"
    ):
        snapshots.snapshot_query(
            "demo", "SELECT 1 AS x UNION ALL SELECT 2.5 UNION ALL SELECT 'three'"
        )
    assert_nothing_saved()
    dataset, _ = snapshots.snapshot_query(
        "demo", "SELECT CAST(1 AS REAL) AS x UNION ALL SELECT 2.5"
    )
    assert datasets.read_frame(dataset)["x"].tolist() == [1.0, 2.5]


def test_the_row_cap_is_validated_in_config_yaml(tmp_path):
    # Here, not at the top: pytest would collect the config tests here too.
    from mlframework.core.tests.test_config import MINIMAL, error_for, with_

    message = error_for(tmp_path, with_(MINIMAL, "training.max_query_rows", 0))
    assert message == "config.yaml: training.max_query_rows must be at least 1"
    assert settings.CONFIG.training.max_query_rows == 2_000_000
