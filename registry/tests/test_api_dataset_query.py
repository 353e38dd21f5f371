"""POST /api/registry/datasets/query/: a dataset from a datasource query."""

import uuid

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from conftest import require_datasource
from mlframework.lib import odbc
from registry import datasets
from registry.models import Dataset

pytestmark = pytest.mark.django_db(databases=["default", "events"])
URL = "/api/registry/datasets/query/"


def _client(user=None):
    client = APIClient()
    if user is not None:
        token = Token.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def table():
    require_datasource("demo")
    name = f"apiq_{uuid.uuid4().hex[:10]}"
    odbc.execute("demo", f"CREATE TABLE {name} (id INTEGER, city VARCHAR(40))")
    odbc.execute("demo", f"INSERT INTO {name} VALUES (1, 'Recife'), (2, 'Natal')")
    yield name
    odbc.execute("demo", f"DROP TABLE IF EXISTS {name}")


def _body(table: str, **changes) -> dict:
    body = {
        "datasource": "demo",
        "query": f"SELECT id, city FROM {table} WHERE city <> :skip ORDER BY id",
        "params": {"skip": "it's nowhere"},
        "name": "cities",
    }
    body.update(changes)
    return body


def _nothing_saved() -> bool:
    return not Dataset.objects.exists() and not any(datasets.root().iterdir())


def test_it_snapshots_a_query_and_answers_the_dataset(analyst, table):
    client = _client(analyst)
    response = client.post(URL, _body(table), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["rows"] == 2 and data["format"] == "parquet"
    assert data["source"] == "query" and data["datasource"] == "demo"
    assert data["query"] == _body(table)["query"]
    assert data["params"] == {"skip": "it's nowhere"} and data["snapshot_at"]
    assert [c["name"] for c in data["columns"]] == ["id", "city"]
    dataset = Dataset.objects.get(pk=data["id"])
    assert dataset.created_by == analyst and datasets.path_of(dataset).exists()
    # The same rows again: the same dataset, 200.
    again = client.post(URL, _body(table, name="other"), format="json")
    assert again.status_code == 200 and again.json()["id"] == data["id"]
    shown = client.get(f"/api/registry/datasets/{data['id']}/").json()
    assert shown["source"] == "query" and shown["params"] == data["params"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"query": "DELETE FROM {t}"}, "query", "DELETE is not a read"),
        ({"query": "SELEC id FROM {t}"}, "query", "could not be read"),
        ({"params": {}}, "params", "uses :skip, with no value given"),
        ({"params": {"skip": "x", "extra": "1"}}, "params", "given for :extra"),
        ({"params": ["x"]}, "params", "dictionary"),
        ({"datasource": "nowhere"}, "datasource", "nowhere is not a configured"),
        (
            {"query": "SELECT id FROM {t} WHERE id > 5", "params": {}},
            "query",
            "no rows",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(analyst, table, changes, field, message):
    changes = {
        key: value.format(t=table) if isinstance(value, str) else value
        for key, value in changes.items()
    }
    response = _client(analyst).post(URL, _body(table, **changes), format="json")
    assert response.status_code == 400
    body = response.json()
    assert message in " ".join(body["fields"][field]), body
    assert body["error"]
    assert _nothing_saved()


def test_it_needs_a_token_and_the_train_role(viewer, table):
    assert _client().post(URL, _body(table), format="json").status_code in (401, 403)
    assert _client(viewer).post(URL, _body(table), format="json").status_code == 403
    assert _nothing_saved()


def test_the_schema_documents_it(analyst):
    schema = _client(analyst).get("/api/schema/").content.decode()
    assert URL in schema
