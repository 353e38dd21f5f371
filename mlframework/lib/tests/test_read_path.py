"""Read paths against the real SQLite3 and MariaDB drivers: refused before the
driver, read-only at the connection, bounded in rows and in time."""

import dataclasses
import os
import uuid

import psutil
import pytest

from conftest import require_datasource
from mlframework.lib import odbc

# A result of millions of rows the server makes without a table.
MILLIONS = {
    "demo": (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
        "WHERE x < 6000000) SELECT x, 'some text to make the row wider' AS pad FROM n"
    ),
    "mariadb": (
        "SELECT a.ORDINAL_POSITION AS x, 'some text to make the row wider' AS pad "
        "FROM information_schema.COLUMNS a, information_schema.COLUMNS b, "
        "information_schema.COLUMNS c"
    ),
    "postgres": (
        "SELECT x, 'some text to make the row wider' AS pad "
        "FROM generate_series(1, 6000000) AS x"
    ),
}
# Takes far longer than a second, returning one row at the end.
SLOW = {
    "demo": (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
        "WHERE x < 500000000) SELECT count(*) AS c FROM n"
    ),
    "mariadb": (
        "SELECT count(*) AS c FROM information_schema.COLUMNS a, "
        "information_schema.COLUMNS b, information_schema.COLUMNS c, "
        "information_schema.COLUMNS d"
    ),
    "postgres": "SELECT count(*) AS c FROM generate_series(1, 2000000000) AS x",
}


@pytest.fixture
def table(source):
    name = f"t_{uuid.uuid4().hex[:10]}"
    odbc.execute(source, f"CREATE TABLE {name} (id INTEGER, name VARCHAR(20))")
    odbc.execute(source, f"INSERT INTO {name} VALUES (1, 'one'), (2, 'two')")
    yield name
    odbc.execute(source, f"DROP TABLE IF EXISTS {name}")


def count(source: str, table: str) -> int:
    return odbc.probe(source, f"SELECT COUNT(*) FROM {table}").value


@pytest.fixture
def short_timeout(settings):
    """Every datasource with a one-second query_timeout and run_query_timeout."""
    config = settings.CONFIG
    sources = {
        name: dataclasses.replace(ds, query_timeout=1, run_query_timeout=1)
        for name, ds in config.datasources.items()
    }
    settings.CONFIG = dataclasses.replace(config, datasources=sources)


def test_a_preview_returns_columns_and_rows(source, table):
    columns, rows = odbc.preview(source, f"SELECT * FROM {table} ORDER BY id", 5)
    assert columns == ["id", "name"]
    assert rows == [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}]


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM {t}",
        "WITH x AS (SELECT 1) DELETE FROM {t} WHERE id > 0",
        "WITH x AS (SELECT 1) UPDATE {t} SET name = 'gone'",
        "INSERT INTO {t} VALUES (3, 'three')",
        "SELECT * FROM {t}; DELETE FROM {t}",
        "DROP TABLE {t}",
    ],
)
def test_a_write_never_reaches_the_driver(source, table, statement):
    for read in (
        lambda q: odbc.preview(source, q, 5),
        lambda q: list(odbc.read_batches(source, q)),
        lambda q: list(odbc.read_pages(source, q, "id")),
    ):
        with pytest.raises(odbc.ReadOnlyError, match=r"not a read|statements"):
            read(statement.format(t=table))
    assert count(source, table) == 2
    assert odbc.preview(source, f"SELECT name FROM {table} WHERE id = 1")[1] == [
        {"name": "one"}
    ]


def test_sqlite_file_statements_create_no_file(tmp_path):
    vacuum, attach = tmp_path / "copy.sqlite3", tmp_path / "attached.sqlite3"
    for query in (f"VACUUM INTO '{vacuum}'", f"ATTACH DATABASE '{attach}' AS x"):
        with pytest.raises(odbc.ReadOnlyError, match="is not a read"):
            odbc.preview("demo", query)
    assert not vacuum.exists() and not attach.exists()


def test_the_session_itself_refuses_writes(source, table):
    # The second guard: a write that got past the parser fails at the server.
    connection = odbc._read_connection(source, 10)
    with pytest.raises(Exception, match=r"readonly|READ ONLY|read-only"):
        connection.execute(f"INSERT INTO {table} VALUES (9, 'nine')")
    assert count(source, table) == 2


def test_a_preview_of_millions_of_rows_fetches_only_its_rows(source):
    process = psutil.Process(os.getpid())
    before = process.memory_info().rss
    columns, rows = odbc.preview(source, MILLIONS[source], 5)
    grown = process.memory_info().rss - before
    assert columns == ["x", "pad"] and len(rows) == 5
    assert grown < 64 * 1024 * 1024, f"the preview grew the process by {grown} B"


@pytest.mark.slow
def test_a_slow_preview_is_stopped_at_the_query_timeout(source, short_timeout):
    with pytest.raises(odbc.QueryTimeout, match=r"longer than 1 s.*query_timeout"):
        odbc.preview(source, SLOW[source], 5)
    # The connection is usable again at once: nothing was left running on it.
    assert odbc.preview(source, "SELECT 1 AS one")[1] == [{"one": 1}]


@pytest.mark.parametrize("server", ["mariadb", "postgres"])
def test_a_slow_run_query_is_stopped_at_the_run_timeout(short_timeout, server):
    require_datasource(server)
    with pytest.raises(odbc.QueryTimeout, match="run_query_timeout"):
        list(odbc.read_batches(server, SLOW[server]))


def test_an_error_never_shows_the_password(source):
    with pytest.raises(odbc.OdbcError) as caught:
        odbc.preview(source, "SELECT * FROM no_such_table")
    assert "apppass" not in str(caught.value) and "no_such_table" in str(caught.value)


def test_the_monitors_probe_is_a_read_path_too(source, table):
    refused = odbc.probe(source, f"DELETE FROM {table}")
    assert not refused.ok and "DELETE is not a read" in refused.error
    assert count(source, table) == 2
    assert odbc.probe(source, f"SELECT MAX(id) FROM {table}").value == 2
