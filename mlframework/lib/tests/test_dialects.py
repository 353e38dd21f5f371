"""The per-engine dialects. SQL Server has no server here: its dialect is
checked by these unit tests only (the others run against real servers too)."""

import pyarrow as pa
import pytest

from mlframework.lib.odbc import dialects

ENGINES = [dialects.SQLITE, dialects.MYSQL, dialects.POSTGRESQL, dialects.MSSQL]


@pytest.mark.parametrize(
    ("dialect", "quoted"),
    [
        (dialects.SQLITE, '"scores"'),
        (dialects.MYSQL, "`scores`"),
        (dialects.POSTGRESQL, '"scores"'),
        (dialects.MSSQL, "[scores]"),
    ],
)
def test_each_engine_quotes_identifiers_its_way(dialect, quoted):
    assert dialect.quote("scores") == quoted


@pytest.mark.parametrize(
    ("arrow_type", "expected"),
    [
        (pa.float64(), ["DOUBLE", "DOUBLE", "DOUBLE PRECISION", "FLOAT"]),
        (pa.bool_(), ["BOOLEAN", "BOOLEAN", "BOOLEAN", "BIT"]),
        (pa.timestamp("us"), ["TIMESTAMP", "DATETIME(6)", "TIMESTAMP", "DATETIME2"]),
        (
            pa.string(),
            ["VARCHAR(4000)", "VARCHAR(1000)", "VARCHAR(4000)", "NVARCHAR(4000)"],
        ),
        (pa.int64(), ["BIGINT"] * 4),
        (pa.int32(), ["INTEGER"] * 4),
        (pa.decimal128(12, 2), ["DECIMAL(12,2)"] * 4),
        (pa.date32(), ["DATE"] * 4),
    ],
)
def test_created_sinks_get_each_engines_column_types(arrow_type, expected):
    assert [d.column_type(arrow_type) for d in ENGINES] == expected


def test_a_type_no_engine_stores_has_no_column_type():
    assert dialects.SQLITE.column_type(pa.list_(pa.int64())) is None


def test_pages_are_limited_with_limit_or_top():
    source = "SELECT * FROM t"
    assert dialects.MYSQL.page(source, "`id`", "", 100) == (
        "SELECT * FROM (SELECT * FROM t) AS mlf_pages ORDER BY `id` LIMIT 100"
    )
    assert dialects.POSTGRESQL.page(source, '"id"', 'WHERE "id" >= ? ', 5) == (
        'SELECT * FROM (SELECT * FROM t) AS mlf_pages WHERE "id" >= ? '
        'ORDER BY "id" NULLS FIRST LIMIT 5'
    )
    assert dialects.MSSQL.page(source, "[id]", "", 7) == (
        "SELECT TOP 7 * FROM (SELECT * FROM t) AS mlf_pages ORDER BY [id]"
    )


def test_read_only_and_timeout_statements_per_engine():
    assert dialects.SQLITE.read_only == ("PRAGMA query_only = 1",)
    assert dialects.MYSQL.timeout_statements(3) == [
        "SET SESSION max_statement_time = 3",
        "SET SESSION max_execution_time = 3000",
    ]
    assert dialects.POSTGRESQL.timeout_statements(2) == ["SET statement_timeout = 2000"]
    assert not dialects.MSSQL.read_only and not dialects.MSSQL.server_timeout


@pytest.mark.parametrize(
    ("driver", "engine"),
    [
        ("ODBC Driver 18 for SQL Server", "mssql"),
        ("FreeTDS", "mssql"),
        ("MySQL ODBC 8.0 Unicode Driver", "mysql"),
        ("PostgreSQL ANSI", "postgresql"),
        ("SQLite3", "sqlite"),
    ],
)
def test_drivers_map_to_engines(driver, engine):
    assert dialects.for_driver(driver).engine == engine
