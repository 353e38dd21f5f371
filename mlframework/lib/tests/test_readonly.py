"""The read-only check (odbc.readonly): only one statement that reads passes,
on every dialect, and a refusal names what was found."""

import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st

from mlframework.lib.odbc import dialects, readonly

DIALECTS = [dialects.SQLITE, dialects.MYSQL, dialects.POSTGRESQL, dialects.MSSQL]
ALL = pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.engine)


def refusal(query: str, dialect=dialects.SQLITE) -> str:
    with pytest.raises(readonly.NotReadOnly) as caught:
        readonly.check(query, dialect)
    return str(caught.value)


@ALL
@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM penguins",
        "select species, count(*) AS n from penguins group by species order by n",
        "SELECT 1 UNION SELECT 2",
        "SELECT a FROM t EXCEPT SELECT a FROM u",
        "WITH recent AS (SELECT * FROM t WHERE d > '2026-01-01') SELECT * FROM recent",
        "SELECT * FROM t WHERE id IN (SELECT id FROM u)",
        "SELECT 'DELETE FROM t; DROP TABLE t' AS text",
        "SELECT * FROM penguins WHERE island = 'x;y'",
        "SELECT * FROM t;",
        "  SELECT * FROM t ;  ; ",
        "(SELECT 1)",
    ],
)
def test_reads_pass(dialect, query):
    checked = readonly.check(query, dialect)
    assert not checked.text.endswith(";")


@ALL
@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("DELETE FROM t", "DELETE is not a read"),
        ("UPDATE t SET a = 1", "UPDATE is not a read"),
        ("INSERT INTO t VALUES (1)", "INSERT is not a read"),
        ("INSERT INTO t SELECT * FROM u", "INSERT is not a read"),
        ("DROP TABLE t", "DROP is not a read"),
        ("CREATE TABLE x AS SELECT 1", "CREATE is not a read"),
        ("ALTER TABLE t ADD COLUMN b INT", "ALTER is not a read"),
        ("TRUNCATE TABLE t", "is not a read"),
        ("WITH x AS (SELECT 1) DELETE FROM t WHERE a = 1", "DELETE inside a WITH"),
        ("WITH x AS (SELECT 1) UPDATE t SET a = 1", "UPDATE inside a WITH"),
        ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "INSERT inside a WITH"),
        ("SELECT 1; DELETE FROM t", "holds 2 statements"),
        ("SELECT 1; SELECT 2", "holds 2 statements"),
        ("", "is empty"),
        (" ; ", "is empty"),
        ("SELEC 1", "could not be read as"),
    ],
)
def test_writes_and_others_are_refused_with_what_was_found(dialect, query, found):
    assert found in refusal(query, dialect)


@pytest.mark.parametrize(
    ("dialect", "query", "found"),
    [
        (dialects.SQLITE, "VACUUM INTO '/tmp/x.sqlite3'", "VACUUM is not a read"),
        (dialects.SQLITE, "ATTACH DATABASE '/tmp/x' AS y", "ATTACH is not a read"),
        (dialects.SQLITE, "DETACH DATABASE y", "is not a read"),
        (dialects.SQLITE, "PRAGMA query_only = 0", "PRAGMA is not a read"),
        (dialects.SQLITE, "REPLACE INTO t VALUES (1)", "REPLACE is not a read"),
        (dialects.SQLITE, "SELECT load_extension('x')", "load_extension"),
        (dialects.SQLITE, "SELECT writefile('/tmp/x', 'y')", "writefile"),
        (dialects.SQLITE, "BEGIN", "is not a read"),
        (dialects.SQLITE, "EXPLAIN SELECT 1", "EXPLAIN is not a read"),
        (dialects.MYSQL, "SELECT * FROM t FOR UPDATE", "locking clause"),
        (dialects.MYSQL, "SELECT * FROM t LOCK IN SHARE MODE", "locking clause"),
        (dialects.MYSQL, "SELECT a INTO @v FROM t", "SELECT ... INTO"),
        (dialects.MYSQL, "SELECT a FROM t INTO OUTFILE '/tmp/x'", "could not be"),
        (dialects.MYSQL, "SELECT SLEEP(100)", "sleep"),
        (dialects.MYSQL, "SELECT GET_LOCK('x', 10)", "get_lock"),
        (dialects.MYSQL, "SELECT LOAD_FILE('/etc/passwd')", "load_file"),
        (dialects.MYSQL, "SET @a = 1", "SET is not a read"),
        (dialects.MYSQL, "CALL cleanup()", "CALL is not a read"),
        (dialects.MYSQL, "LOAD DATA INFILE 'x' INTO TABLE t", "could not be"),
        (dialects.POSTGRESQL, "SELECT * FROM t FOR SHARE", "locking clause"),
        (dialects.POSTGRESQL, "SELECT a INTO newt FROM t", "SELECT ... INTO"),
        (
            dialects.POSTGRESQL,
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "DELETE inside a WITH is not a read",
        ),
        (dialects.POSTGRESQL, "SELECT nextval('s')", "nextval"),
        (dialects.POSTGRESQL, "SELECT pg_sleep(60)", "pg_sleep"),
        (dialects.POSTGRESQL, "SELECT set_config('a', 'b', false)", "set_config"),
        (dialects.POSTGRESQL, "SELECT query_to_xml('DELETE FROM t', 1, 1, '')", "xml"),
        (dialects.POSTGRESQL, "COPY t TO '/tmp/x'", "COPY is not a read"),
        (dialects.MSSQL, "EXEC xp_cmdshell 'dir'", "EXECUTE is not a read"),
        (dialects.MSSQL, "SELECT a INTO #x FROM t", "SELECT ... INTO"),
        (dialects.MSSQL, "SELECT * FROM OPENROWSET('x', 'y', 'z')", "is not"),
    ],
)
def test_each_dialects_side_effects_are_refused(dialect, query, found):
    assert found in refusal(query, dialect)


def test_a_parse_error_names_line_and_column_without_terminal_codes():
    message = refusal("SELECT *\nFROM t WHERE (")
    assert "line 2" in message and "\x1b" not in message


@pytest.mark.parametrize(
    ("query", "rows", "expected"),
    [
        ("SELECT * FROM t", 5, "SELECT * FROM t\nLIMIT 5"),
        ("SELECT * FROM t -- the end", 5, "SELECT * FROM t -- the end\nLIMIT 5"),
        ("SELECT 1 UNION SELECT 2", 1, "SELECT 1 UNION SELECT 2\nLIMIT 1"),
        (
            "SELECT * FROM t ORDER BY a LIMIT 100",
            5,
            "SELECT * FROM (\nSELECT * FROM t ORDER BY a LIMIT 100\n) AS mlf_limited "
            "LIMIT 5",
        ),
    ],
)
def test_a_limit_is_written_into_the_sql(query, rows, expected):
    assert readonly.check(query, dialects.SQLITE).limited(rows) == expected


def test_sql_server_limits_with_top():
    checked = readonly.check("SELECT a, b FROM t ORDER BY a", dialects.MSSQL)
    assert checked.limited(5) == "SELECT TOP 5 a, b FROM t ORDER BY a"
    union = readonly.check("SELECT a FROM t UNION SELECT a FROM u", dialects.MSSQL)
    assert union.limited(3).startswith("SELECT TOP 3 * FROM (\n")


@pytest.mark.parametrize("driver", ["SQLite3", "MariaDB Unicode", "PostgreSQL"])
def test_dialects_are_known_by_driver_name(driver):
    assert dialects.for_driver(driver) is not dialects.GENERIC


def test_an_unknown_driver_is_parsed_as_standard_sql():
    assert dialects.for_driver("Acme ODBC") is dialects.GENERIC
    assert "DELETE is not a read" in refusal("DELETE FROM t", dialects.GENERIC)


# --- Properties: generated statements of every kind, on each dialect -------

NAME = st.sampled_from(["t", "penguins", "sales", "u"])
COLUMN = st.sampled_from(["a", "b", "species", "island", "id"])
VALUE = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.sampled_from(["'x'", "'DELETE FROM t'", "'a;b'", "NULL", "1.5"]),
)
CONDITION = st.builds(
    lambda c, op, v: f"{c} {op} {v}", COLUMN, st.sampled_from(["=", "<", ">="]), VALUE
)


@st.composite
def selects(draw) -> str:
    columns = ", ".join(draw(st.lists(COLUMN, min_size=1, max_size=3)))
    query = f"SELECT {columns} FROM {draw(NAME)}"
    if draw(st.booleans()):
        query += f" WHERE {draw(CONDITION)}"
    if draw(st.booleans()):
        query += f" ORDER BY {draw(COLUMN)}"
    return query


@st.composite
def reads(draw) -> str:
    kind = draw(st.sampled_from(["plain", "union", "cte", "subquery"]))
    first, second = draw(selects()), draw(selects())
    if kind == "union":
        return f"{first.split(' ORDER BY')[0]} UNION ALL {second.split(' ORDER BY')[0]}"
    if kind == "cte":
        return f"WITH q AS ({first.split(' ORDER BY')[0]}) SELECT * FROM q"
    if kind == "subquery":
        return f"SELECT * FROM {draw(NAME)} WHERE id IN (SELECT id FROM {draw(NAME)})"
    return first


@st.composite
def writes(draw) -> str:
    table, column, value = draw(NAME), draw(COLUMN), draw(VALUE)
    statement = draw(
        st.sampled_from(
            [
                f"DELETE FROM {table} WHERE {draw(CONDITION)}",
                f"UPDATE {table} SET {column} = {value}",
                f"INSERT INTO {table} ({column}) VALUES ({value})",
                f"INSERT INTO {table} {draw(selects())}",
                f"DROP TABLE {table}",
                f"CREATE TABLE {table}_copy AS {draw(selects())}",
            ]
        )
    )
    wrapping = draw(st.sampled_from(["alone", "cte", "after a read"]))
    if wrapping == "cte":
        return f"WITH x AS ({draw(selects())}) {statement}"
    if wrapping == "after a read":
        return f"{draw(selects())}; {statement}"
    return statement


@settings(max_examples=150, deadline=None)
@given(dialect=st.sampled_from(DIALECTS), query=reads())
def test_generated_reads_pass_on_every_dialect(dialect, query):
    checked = readonly.check(query, dialect)
    # The limited form is still a single read the check accepts.
    limited = checked.limited(7)
    readonly.check(limited, dialect)
    assert sqlglot.parse_one(limited, read=dialect.sqlglot) is not None


@settings(max_examples=150, deadline=None)
@given(dialect=st.sampled_from(DIALECTS), query=writes())
def test_generated_writes_never_pass_on_any_dialect(dialect, query):
    with pytest.raises(readonly.NotReadOnly):
        readonly.check(query, dialect)


@settings(max_examples=300, deadline=None)
@given(dialect=st.sampled_from(DIALECTS), query=st.text(max_size=200))
def test_any_text_is_answered_with_a_verdict_never_a_crash(dialect, query):
    try:
        checked = readonly.check(query, dialect)
    except readonly.NotReadOnly as exc:
        assert str(exc)
    else:
        assert isinstance(checked.statement, readonly._READS)
