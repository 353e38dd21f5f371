"""The ODBC adapter against the real SQLite3 and MariaDB drivers."""

import datetime as dt
import os
import re
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from mlframework.lib import odbc


@pytest.fixture
def table(source):
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    odbc.execute(source, f"DROP TABLE IF EXISTS {name}")


def test_probe_runs_the_test_query(source):
    result = odbc.probe(source, "SELECT 41 + 1")
    assert result.ok and result.value == 42 and result.seconds < 5


def test_a_bad_query_is_reported_not_raised(source):
    result = odbc.probe(source, "SELECT * FROM no_such_table")
    assert not result.ok and "no_such_table" in result.error


def test_an_unknown_datasource_is_an_error():
    assert "is not a configured datasource" in odbc.probe("nope").error


def test_write_then_read_round_trips_types(source, table):
    odbc.execute(
        source,
        f"CREATE TABLE {table} (id INTEGER, name VARCHAR(40), price DECIMAL(12,2), "
        f"day DATE, score {odbc.sql_type(source, pa.float64())})",
    )
    data = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "name": ["São Paulo", "Ñandú", None],
            "price": pa.array(
                [Decimal("1.50"), Decimal("-2.25"), None], pa.decimal128(12, 2)
            ),
            "day": pa.array([dt.date(2026, 1, 2), None, dt.date(1999, 12, 31)]),
            "score": [0.1 + 0.2, None, 1e10 / 3],
        }
    )
    odbc.write_table(source, table, data)
    rows = pa.Table.from_batches(
        list(odbc.read_batches(source, f"SELECT * FROM {table} ORDER BY id"))
    ).to_pylist()
    assert [r["name"] for r in rows] == ["São Paulo", "Ñandú", None]
    # Every digit of a double comes back from the servers (psqlODBC's would be
    # cut to float32); the SQLite3 driver passes doubles as 15-digit text.
    digits = {"rel": 1e-14} if source == "demo" else {"rel": 0, "abs": 0}
    scores = [r["score"] for r in rows]
    assert scores[1] is None
    assert [scores[0], scores[2]] == pytest.approx([0.1 + 0.2, 1e10 / 3], **digits)
    # The SQLite3 driver returns DECIMAL as text; the value survives.
    assert [None if r["price"] is None else Decimal(str(r["price"])) for r in rows] == [
        Decimal("1.50"),
        Decimal("-2.25"),
        None,
    ]
    assert str(rows[0]["day"]) == "2026-01-02" and rows[1]["day"] is None


def test_a_failed_write_leaves_no_rows(source, table):
    odbc.execute(source, f"CREATE TABLE {table} (id INTEGER NOT NULL)")
    data = pa.table({"id": pa.array([1, 2, None], pa.int64())})
    with pytest.raises(odbc.OdbcError):
        odbc.write_table(source, table, data, chunk_size=1)
    assert odbc.probe(source, f"SELECT COUNT(*) FROM {table}").value == 0


def _paged(source, query, key="id", page=4):
    batches = list(odbc.read_pages(source, query, key, page_size=page))
    return [row for b in batches for row in b.to_pylist()], batches


def test_read_pages_reads_every_row_once_in_key_order(source, table):
    odbc.execute(source, f"CREATE TABLE {table} (id INTEGER, name VARCHAR(20))")
    ids = [7, 3, 11, 1, 5, 9, 2, 10, 4, 8, 6]  # 11 rows, stored out of order
    data = pa.table({"id": pa.array(ids, pa.int64()), "name": [f"n{i}" for i in ids]})
    odbc.write_table(source, table, data)
    # Pages of 4 rows, a trailing semicolon and a filter in the user's query.
    rows, batches = _paged(source, f"SELECT id, name FROM {table} WHERE id > 1;")
    assert [r["id"] for r in rows] == list(range(2, 12))
    assert [r["name"] for r in rows] == [f"n{i}" for i in range(2, 12)]
    assert max(b.num_rows for b in batches) <= 4
    # A page that ends exactly at the last row: one more (empty) query ends it.
    rows, _ = _paged(source, f"SELECT * FROM {table}", page=11)
    assert len(rows) == 11
    assert _paged(source, f"SELECT * FROM {table} WHERE id > 100")[0] == []
    # A smaller first page (the dispatch runner's), then pages twice the last
    # up to the page size.
    batches = list(
        odbc.read_pages(source, f"SELECT * FROM {table}", "id", 4, first_page_size=1)
    )
    assert [r["id"] for b in batches for r in b.to_pylist()] == list(range(1, 12))
    assert [b.num_rows for b in batches] == [1, 2, 4, 4]
    # The first page with its own (small) fetch buffers: 150 bytes hold one
    # row of VARCHAR(20) at a time; the next pages have the usual buffers.
    batches = list(
        odbc.read_pages(
            source,
            f"SELECT * FROM {table}",
            "id",
            8,
            first_page_size=3,
            first_page_bytes=150,
        )
    )
    assert [r["id"] for b in batches for r in b.to_pylist()] == list(range(1, 12))
    assert [b.num_rows for b in batches] == [1, 1, 1, 6, 2]


@pytest.mark.parametrize(
    ("rows", "key", "message"),
    [
        ([1, 2, 2, 3], "id", "repeated values (e.g. 2); page by a unique key"),
        # The repeat straddles two pages of 2 rows: 1, 2 | 2 would be skipped.
        ([1, 2, 3, 3, 4], "id", "repeated values (e.g. 3)"),
        ([1, None, 3], "id", "empty (NULL) values"),
        ([1, 2, 3], "name", "not integers"),
        ([1, 2, 3], "nope", "is not in the query's result"),
    ],
)
def test_read_pages_refuses_keys_that_could_skip_rows(
    source, table, rows, key, message
):
    odbc.execute(source, f"CREATE TABLE {table} (id INTEGER, name VARCHAR(20))")
    data = pa.table({"id": pa.array(rows, pa.int64()), "name": [f"n{i}" for i in rows]})
    odbc.write_table(source, table, data)
    query = f"SELECT * FROM {table}"
    if key == "nope":
        with pytest.raises(odbc.OdbcError):
            _paged(source, query, key)
        return
    with pytest.raises(
        odbc.OdbcError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        _paged(source, query, key, page=2)


def test_errors_never_show_the_password():
    if "mariadb" not in odbc.datasource_names():
        pytest.skip("needs the test config's MariaDB datasource")
    password = os.environ.get("MLF_TEST_MARIADB_PASSWORD", "")
    result = odbc.probe("mariadb", "SELECT * FROM missing_table")
    assert not result.ok and password not in result.error


@pytest.mark.parametrize("bad", ["", "1abc", "a b", "x;DROP TABLE y", "a" * 65, "t`"])
def test_quote_identifier_refuses_bad_names(bad):
    with pytest.raises(ValueError, match="is not a valid name"):
        odbc.quote_identifier(bad)


def test_quote_identifier_quotes_per_driver():
    assert odbc.quote_identifier("scores") == '"scores"'
    assert odbc.quote_identifier("scores", "DRIVER={MariaDB Unicode}") == "`scores`"


def test_nothing_outside_the_adapter_holds_a_driver_object():
    # Tests and benchmarks may use the drivers directly (as a user would by
    # hand); the platform's code reaches databases only through the adapter.
    root = Path(__file__).resolve().parents[3]
    adapter = root / "mlframework" / "lib" / "odbc"
    offenders = []
    for path in root.rglob("*.py"):
        parts = set(path.relative_to(root).parts)
        if parts & {".venv", "tests", "bench", "var"} or adapter in path.parents:
            continue
        text = path.read_text()
        if re.search(r"^\s*(import|from)\s+(pyodbc|arrow_odbc)\b", text, re.M):
            offenders.append(str(path.relative_to(root)))
    assert offenders == []
