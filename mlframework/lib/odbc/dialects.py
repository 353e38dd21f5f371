"""What differs between database engines on the read path: the SQL parser's
dialect, the statements that make a session read-only and bound its
statements' time, and how a row limit is written."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa


@dataclass(frozen=True)
class Dialect:
    engine: str  # sqlite | mysql | postgresql | mssql | generic
    sqlglot: str | None  # sqlglot's name for the dialect; None: its generic one
    # Run once on a new connection: every later statement on it is read-only.
    read_only: tuple[str, ...] = ()
    # Format with {seconds} / {milliseconds}; tried in order, the first one the
    # server accepts wins (MariaDB and MySQL name the setting differently).
    timeouts: tuple[str, ...] = ()
    # Whether the server enforces the timeout itself; otherwise the adapter
    # cancels the statement from a watchdog thread.
    server_timeout: bool = False
    limit_style: str = "limit"  # "limit": ... LIMIT n; "top": SELECT TOP n ...
    quotes: tuple[str, str] = ('"', '"')
    # Where NULL keys sort in ORDER BY: paging must meet them on its first page
    # (and refuse them), not lose them past its last.
    nulls_first: str = ""
    # Column types of created sinks, by Arrow type family, over _TYPES.
    types: dict[str, str] = field(default_factory=dict)

    def quote(self, name: str) -> str:
        """A validated identifier, quoted (see odbc.quote_identifier)."""
        return f"{self.quotes[0]}{name}{self.quotes[1]}"

    def column_type(self, arrow_type: pa.DataType) -> str | None:
        """The column type to create for an Arrow type; None if there is none."""
        family = _family(arrow_type)
        if family is None:
            return None
        if family == "decimal":
            return f"DECIMAL({arrow_type.precision},{arrow_type.scale})"
        return self.types.get(family, _TYPES[family])

    def page(self, source: str, key: str, where: str, rows: int) -> str:
        """One page of a checked read, ordered by a quoted key column."""
        if self.limit_style == "top":
            return (
                f"SELECT TOP {int(rows)} * FROM ({source}) AS mlf_pages "  # noqa: S608
                f"{where}ORDER BY {key}"
            )
        return (
            f"SELECT * FROM ({source}) AS mlf_pages "  # noqa: S608 - checked read
            f"{where}ORDER BY {key}{self.nulls_first} LIMIT {int(rows)}"
        )

    def timeout_statements(self, seconds: int) -> list[str]:
        return [
            statement.format(seconds=int(seconds), milliseconds=int(seconds) * 1000)
            for statement in self.timeouts
        ]


_TYPES = {
    "boolean": "BOOLEAN",
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "double": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "time": "TIME",
    # Bounded, so readers size their buffers for it, not for TEXT's 64 KiB.
    "text": "VARCHAR(4000)",
}


def _family(arrow_type: pa.DataType) -> str | None:
    checks = (
        ("boolean", pa.types.is_boolean),
        ("bigint", lambda t: pa.types.is_int64(t) or pa.types.is_uint32(t)),
        ("integer", pa.types.is_integer),
        ("double", pa.types.is_floating),
        ("decimal", pa.types.is_decimal),
        ("date", pa.types.is_date),
        ("timestamp", pa.types.is_timestamp),
        ("time", pa.types.is_time),
        ("text", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
    )
    return next((name for name, check in checks if check(arrow_type)), None)


SQLITE = Dialect(
    "sqlite",
    "sqlite",
    # query_only refuses every write, through this connection, to any file.
    read_only=("PRAGMA query_only = 1",),
)
MYSQL = Dialect(
    "mysql",
    "mysql",
    read_only=("SET SESSION TRANSACTION READ ONLY",),
    timeouts=(
        "SET SESSION max_statement_time = {seconds}",  # MariaDB
        "SET SESSION max_execution_time = {milliseconds}",  # MySQL
    ),
    server_timeout=True,
    quotes=("`", "`"),
    types={"timestamp": "DATETIME(6)", "text": "VARCHAR(1000)"},
)
POSTGRESQL = Dialect(
    "postgresql",
    "postgres",
    read_only=("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",),
    timeouts=("SET statement_timeout = {milliseconds}",),
    server_timeout=True,
    nulls_first=" NULLS FIRST",
    types={"double": "DOUBLE PRECISION"},
)
# SQL Server has no read-only session: the parser and a read-only login guard it.
MSSQL = Dialect(
    "mssql",
    "tsql",
    limit_style="top",
    quotes=("[", "]"),
    types={
        "boolean": "BIT",
        "double": "FLOAT",
        "timestamp": "DATETIME2",
        "text": "NVARCHAR(4000)",
    },
)
GENERIC = Dialect("generic", None)

BY_ENGINE = {d.engine: d for d in (SQLITE, MYSQL, POSTGRESQL, MSSQL)}

_BY_DRIVER = (
    ("sqlite", SQLITE),
    ("mariadb", MYSQL),
    ("mysql", MYSQL),
    ("postgres", POSTGRESQL),
    ("psql", POSTGRESQL),
    ("sql server", MSSQL),
    ("freetds", MSSQL),
)


def for_driver(driver: str) -> Dialect:
    """The dialect of an ODBC driver name ("MariaDB Unicode", "SQLite3", ...)."""
    name = driver.lower()
    for fragment, dialect in _BY_DRIVER:
        if fragment in name:
            return dialect
    return GENERIC
