""":name parameters of a read: found by the parser, written ? in text order,
their values bound by the real drivers (never part of the SQL text)."""

import pytest

from mlframework.lib import odbc
from mlframework.lib.odbc import readonly
from mlframework.lib.odbc.dialects import GENERIC, MSSQL, MYSQL, POSTGRESQL, SQLITE

DIALECTS = [SQLITE, MYSQL, POSTGRESQL, MSSQL, GENERIC]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.engine)
def test_parameters_become_question_marks_in_text_order(dialect):
    read = readonly.check(
        "SELECT a FROM t WHERE b >= :as_of AND c = :kind AND d < :as_of", dialect
    )
    text, values = read.bind({"kind": "x", "as_of": "2024-01-01"})
    assert text == "SELECT a FROM t WHERE b >= ? AND c = ? AND d < ?"
    assert values == ["2024-01-01", "x", "2024-01-01"]
    assert set(read.parameters) == {"as_of", "kind"}


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.engine)
def test_a_colon_in_a_string_or_a_comment_is_left_alone(dialect):
    read = readonly.check(
        "SELECT ':kind' AS s, a FROM t -- :skip\nWHERE b = :kind /* :c */", dialect
    )
    text, values = read.bind({"kind": "x"})
    assert text == "SELECT ':kind' AS s, a FROM t -- :skip\nWHERE b = ? /* :c */"
    assert values == ["x"]


def test_a_postgres_cast_is_not_a_parameter():
    read = readonly.check("SELECT a::int FROM t WHERE b = :b::date", POSTGRESQL)
    assert read.bind({"b": "2024-01-01"}) == (
        "SELECT a::int FROM t WHERE b = ?::date",
        ["2024-01-01"],
    )


def test_parameters_inside_a_with_and_a_subquery_keep_their_order():
    read = readonly.check(
        "WITH r AS (SELECT * FROM t WHERE day >= :start) "
        "SELECT * FROM r WHERE id IN (SELECT id FROM u WHERE k = :k) AND x < :end",
        SQLITE,
    )
    _, values = read.bind({"end": "3", "k": "2", "start": "1"})
    assert values == ["1", "2", "3"]


def test_a_value_never_enters_the_text():
    read = readonly.check("SELECT a FROM t WHERE b = :b", SQLITE)
    text, values = read.bind({"b": "x' OR '1'='1"})
    assert "OR" not in text and values == ["x' OR '1'='1"]


@pytest.mark.parametrize(
    ("query", "params", "message"),
    [
        ("SELECT a FROM t WHERE b = :b", {}, "uses :b, with no value given"),
        ("SELECT a FROM t", {"b": "1"}, "given for :b, which the query does not"),
        ("SELECT a FROM t WHERE b = ?", {}, "holds a \\? placeholder"),
        (
            "SELECT a FROM t WHERE b = :b AND c = :c",
            {"b": "1"},
            "uses :c, with no value given",
        ),
    ],
)
def test_parameters_that_do_not_match_are_named(query, params, message):
    with pytest.raises(readonly.ParameterError, match=message):
        readonly.check(query, SQLITE).bind(params)


def test_the_adapter_wraps_the_error_with_the_datasource():
    with pytest.raises(odbc.ParameterError, match=r"^demo: The query uses :b"):
        list(odbc.read_batches("demo", "SELECT 1 AS a WHERE 1 = :b", params={}))


def test_without_params_the_text_is_left_as_it_is():
    read = readonly.check("SELECT a FROM t", SQLITE)
    assert odbc.bind("demo", read, None) == ("SELECT a FROM t", None)


def test_the_drivers_bind_the_values(source):
    query = "SELECT :name AS name, :name AS again, :n AS n"
    if source == "postgres":  # psqlODBC sends parameters untyped
        query = "SELECT CAST(:name AS VARCHAR(20)) AS name, :name AS again, :n AS n"
    batches = list(
        odbc.read_batches(source, query, params={"name": "O'Brien", "n": "3"})
    )
    row = batches[0].to_pylist()[0]
    assert row["name"] == row["again"] == "O'Brien" and str(row["n"]) == "3"
    _, rows = odbc.preview(source, query, 5, params={"name": "a;b", "n": "1"})
    assert rows[0]["name"] == "a;b"
