"""The ODBC adapter against the real SQLite3 and MariaDB drivers."""

import datetime as dt
import os
import uuid
from decimal import Decimal

import pyarrow as pa
import pytest

from conftest import require_service
from mlframework.lib import odbc


@pytest.fixture(params=["demo", "mariadb"])
def source(request):
    name = request.param
    if name == "mariadb":
        require_service(
            "mariadb" in odbc.datasource_names() and odbc.probe("mariadb").ok,
            "the MariaDB datasource",
        )
    else:
        odbc.sqlite_database_path("demo").parent.mkdir(parents=True, exist_ok=True)
    return name


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
        "day DATE, score DOUBLE)",
    )
    data = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "name": ["São Paulo", "Ñandú", None],
            "price": pa.array(
                [Decimal("1.50"), Decimal("-2.25"), None], pa.decimal128(12, 2)
            ),
            "day": pa.array([dt.date(2026, 1, 2), None, dt.date(1999, 12, 31)]),
            "score": [0.5, None, 1e10],
        }
    )
    odbc.write_table(source, table, data)
    rows = pa.Table.from_batches(
        list(odbc.read_batches(source, f"SELECT * FROM {table} ORDER BY id"))
    ).to_pylist()
    assert [r["name"] for r in rows] == ["São Paulo", "Ñandú", None]
    assert [r["score"] for r in rows] == [0.5, None, 1e10]
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
