"""Whether a query may run on a read path, decided by parsing it (sqlglot).

A read path (a dispatch's source, its test-run, the Showroom's case queries,
previews) runs SQL written by users on a company database. Keywords are not
enough (``WITH x AS (SELECT 1) DELETE ...`` starts like a read), so the query
is parsed in the datasource's dialect and refused unless it is exactly one
statement that only reads. The connection is read-only too (see the adapter):
this check is the first of two guards, and the one that explains itself.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from mlframework.lib.odbc.dialects import (
    GENERIC,
    MSSQL,
    MYSQL,
    POSTGRESQL,
    SQLITE,
    Dialect,
)

# sqlglot logs a warning for each statement it keeps as an opaque Command;
# those are refused here with a message of our own.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

_READS = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)

# Nodes that write, change the session or the schema, or lock rows.
_NOT_READS: tuple[tuple[type[exp.Expression], str], ...] = (
    (exp.Into, "SELECT ... INTO"),
    (exp.Lock, "a locking clause (FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE)"),
    (exp.DML, ""),
    (exp.DDL, ""),
    (exp.Drop, "DROP"),
    (exp.Alter, "ALTER"),
    (exp.TruncateTable, "TRUNCATE"),
    (exp.Command, ""),
    (exp.Pragma, "PRAGMA"),
    (exp.Set, "SET"),
    (exp.Use, "USE"),
    (exp.Transaction, "a transaction statement"),
    (exp.Commit, "COMMIT"),
    (exp.Rollback, "ROLLBACK"),
    (exp.Attach, "ATTACH"),
    (exp.Detach, "DETACH"),
    (exp.Execute, "EXECUTE"),
    (exp.Grant, "GRANT"),
    (exp.Revoke, "REVOKE"),
    (exp.Analyze, "ANALYZE"),
    (exp.Cache, "CACHE"),
    (exp.Uncache, "UNCACHE"),
)

# Functions with side effects (sleeping, locking, files, sequences, other
# sessions, running SQL given as text), of every engine: a name that means
# nothing to one engine is refused there too, which costs nothing.
SIDE_EFFECT_FUNCTIONS = frozenset(
    {
        # SQLite
        "load_extension",
        "writefile",
        "readfile",
        "edit",
        "fts3_tokenizer",
        # MySQL / MariaDB
        "sleep",
        "benchmark",
        "get_lock",
        "release_lock",
        "release_all_locks",
        "load_file",
        "sys_exec",
        "sys_eval",
        "master_pos_wait",
        "source_pos_wait",
        # PostgreSQL
        "pg_sleep",
        "pg_sleep_for",
        "pg_sleep_until",
        "nextval",
        "setval",
        "set_config",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "lo_import",
        "lo_export",
        "lo_unlink",
        "lo_create",
        "lo_from_bytea",
        "lo_put",
        "dblink",
        "dblink_exec",
        "pg_advisory_lock",
        "pg_advisory_xact_lock",
        "pg_advisory_lock_shared",
        "pg_try_advisory_lock",
        "pg_try_advisory_xact_lock",
        "pg_notify",
        "pg_logical_emit_message",
        "txid_current",
        "query_to_xml",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        # SQL Server
        "xp_cmdshell",
        "openrowset",
        "opendatasource",
        "openquery",
    }
)


class NotReadOnly(ValueError):
    """The query may not run on a read path; str() says what was found."""


class ParameterError(ValueError):
    """The query's :name parameters and the values given do not match."""


@dataclass(frozen=True)
class ReadQuery:
    """A query that passed the check: its text, without a trailing semicolon."""

    text: str
    statement: exp.Expression
    dialect: Dialect

    def limited(self, rows: int) -> str:
        """The query fetching at most `rows` rows, so the server stops there
        (some drivers hold a whole result set in memory before the first row)."""
        rows = int(rows)
        has_limit = any(
            self.statement.args.get(key) for key in ("limit", "offset", "fetch")
        )
        if self.dialect.limit_style == "top":
            if isinstance(self.statement, exp.Select) and not has_limit:
                return self.statement.copy().limit(rows).sql(dialect="tsql")
            # The text passed check(); rows is an int.
            return f"SELECT TOP {rows} * FROM (\n{self.text}\n) AS mlf_limited"  # noqa: S608
        if not has_limit and isinstance(self.statement, _READS):
            # A newline first: the query may end in a -- comment.
            return f"{self.text}\nLIMIT {rows}"
        return f"SELECT * FROM (\n{self.text}\n) AS mlf_limited LIMIT {rows}"  # noqa: S608

    @property
    def parameters(self) -> tuple[str, ...]:
        """The :name parameters the query uses, each once, in the parser's order."""
        return tuple(dict.fromkeys(_named(self.statement)))

    def bind(
        self, params: Mapping[str, object], text: str | None = None
    ) -> tuple[str, list[str | None]]:
        """`text` (default: the query) with each :name written ? and the values
        in that order, for the driver to bind: a value is never part of the
        SQL text. ParameterError names a parameter without a value, a value
        the query does not use, or a bare ? (parameters here have names)."""
        text = self.text if text is None else text
        nodes = list(self.statement.find_all(exp.Placeholder))
        if any(node.this is None for node in nodes):
            raise ParameterError(
                "The query holds a ? placeholder; name each parameter, "
                "like :as_of, and give its value."
            )
        used = self.parameters
        missing = [name for name in used if name not in params]
        if missing:
            raise ParameterError(
                f"The query uses {_listed(missing)}, with no value given; "
                "give a value for each."
            )
        unused = [name for name in params if name not in used]
        if unused:
            raise ParameterError(
                f"A value is given for {_listed(unused)}, which the query does "
                "not use; write :name in the query where it goes, or leave it out."
            )
        spots = _placeholder_spots(text, self.dialect, set(used))
        if len(spots) != len(nodes):
            # The text's tokens and the parse disagree (e.g. a :name inside an
            # array slice); binding by position would then be wrong.
            raise ParameterError(
                "The query's parameters could not be placed unambiguously; "
                "write each as :name next to a value (e.g. day >= :as_of)."
            )
        pieces, values, end = [], [], 0
        for start, stop, name in spots:
            pieces.append(text[end:start])
            pieces.append("?")
            value = params[name]
            values.append(None if value is None else str(value))
            end = stop
        pieces.append(text[end:])
        return "".join(pieces), values


def _named(statement: exp.Expression) -> list[str]:
    # Depth-first, which for the parameter-bearing clauses is their text order.
    return [
        str(node.this)
        for node in statement.find_all(exp.Placeholder, bfs=False)
        if node.this is not None
    ]


def _listed(names: list[str]) -> str:
    return ", ".join(f":{name}" for name in names)


def _placeholder_spots(
    text: str, dialect: Dialect, names: set[str]
) -> list[tuple[int, int, str]]:
    """(start, end, name) of each :name in the text, in text order: a colon
    token right before a name token (strings and comments are tokens of
    their own, so a ':x' inside them is not a parameter)."""
    tokens = sqlglot.tokenize(text, read=dialect.sqlglot)
    spots = []
    for colon, name in itertools.pairwise(tokens):
        if (
            colon.token_type == TokenType.COLON
            and name.start == colon.end + 1
            and name.text in names
        ):
            spots.append((colon.start, name.end + 1, name.text))
    return spots


def check(query: str, dialect: Dialect = GENERIC) -> ReadQuery:
    """The query, if it is exactly one statement that only reads; else NotReadOnly
    naming what was found ("DELETE inside a WITH is not a read")."""
    text = (query or "").strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    if not text:
        raise NotReadOnly("The query is empty.")
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect.sqlglot) if s]
    except ParseError as exc:
        raise NotReadOnly(_parse_message(exc, dialect)) from None
    except TokenError as exc:
        raise NotReadOnly(
            f"The query could not be read as {_name(dialect)} SQL: {exc}"
        ) from None
    if not statements:
        raise NotReadOnly("The query is empty.")
    if len(statements) > 1:
        raise NotReadOnly(
            f"The query holds {len(statements)} statements; give exactly one SELECT."
        )
    statement = statements[0]
    if not isinstance(statement, _READS):
        what = _describe(statement)
        if statement.args.get("with_") or statement.args.get("with"):
            raise NotReadOnly(f"{what} inside a WITH is not a read.")
        raise NotReadOnly(f"{what} is not a read: give one SELECT.")
    for node in statement.walk():
        _check_node(node, statement)
    return ReadQuery(text, statement, dialect)


def _check_node(node: exp.Expression, root: exp.Expression) -> None:
    for kind, label in _NOT_READS:
        if isinstance(node, kind):
            what = label or _describe(node)
            if node.find_ancestor(exp.CTE) is not None:
                raise NotReadOnly(f"{what} inside a WITH is not a read.")
            raise NotReadOnly(f"{what} is not allowed in a read-only query.")
    if isinstance(node, exp.Func):
        name = _function_name(node)
        if name in SIDE_EFFECT_FUNCTIONS:
            raise NotReadOnly(
                f"The function {name} is not allowed in a read-only query "
                "(it has side effects)."
            )


def warm() -> None:
    """Parse once in each dialect: sqlglot builds its tables on first use, which
    would otherwise fall on the first read path of a process (a run's start)."""
    for dialect in (SQLITE, MYSQL, POSTGRESQL, MSSQL):
        sqlglot.parse("SELECT 1 FROM t", read=dialect.sqlglot)


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _describe(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return node.key.upper().replace("TRUNCATETABLE", "TRUNCATE")


def _name(dialect: Dialect) -> str:
    return {
        "sqlite": "SQLite",
        "mysql": "MySQL/MariaDB",
        "postgresql": "PostgreSQL",
        "mssql": "SQL Server",
    }.get(dialect.engine, "standard")


def _parse_message(exc: ParseError, dialect: Dialect) -> str:
    # sqlglot's own message underlines the token with terminal escapes.
    first = exc.errors[0] if exc.errors else {}
    where = ""
    if first.get("line"):
        where = f" at line {first['line']}, column {first.get('col', '?')}"
    description = first.get("description") or "it is not valid SQL"
    near = (first.get("highlight") or "").strip()
    near = f" (near {near!r})" if near else ""
    return (
        f"The query could not be read as {_name(dialect)} SQL{where}: "
        f"{description}{near}."
    )
