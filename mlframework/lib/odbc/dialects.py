"""What differs between database engines on the read path: the SQL parser's
dialect, the statements that make a session read-only and bound its
statements' time, and how a row limit is written."""

from __future__ import annotations

from dataclasses import dataclass


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

    def timeout_statements(self, seconds: int) -> list[str]:
        return [
            statement.format(seconds=int(seconds), milliseconds=int(seconds) * 1000)
            for statement in self.timeouts
        ]


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
)
POSTGRESQL = Dialect(
    "postgresql",
    "postgres",
    read_only=("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",),
    timeouts=("SET statement_timeout = {milliseconds}",),
    server_timeout=True,
)
# SQL Server has no read-only session: the parser and a read-only login guard it.
MSSQL = Dialect("mssql", "tsql", limit_style="top")
GENERIC = Dialect("generic", None)

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
