"""The datasets page's "From a database": preview and snapshot a query."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from conftest import require_datasource
from mlframework.lib import odbc
from registry import datasets
from registry.models import Dataset

pytestmark = pytest.mark.django_db(databases=["default", "events"])
URL = reverse("registry:dataset_query")


@pytest.fixture
def table():
    require_datasource("demo")
    name = f"viewq_{uuid.uuid4().hex[:10]}"
    odbc.execute("demo", f"CREATE TABLE {name} (id INTEGER, city VARCHAR(40))")
    odbc.execute(
        "demo", f"INSERT INTO {name} VALUES (1, 'Recife'), (2, 'O''Brien'), (3, NULL)"
    )
    yield name
    odbc.execute("demo", f"DROP TABLE IF EXISTS {name}")


def _form(table: str, **changes) -> dict:
    data = {
        "datasource": "demo",
        "query": f"SELECT id, city FROM {table} WHERE id >= :first ORDER BY id",
        "params": "first=1",
        "name": "",
        "action": "snapshot",
    }
    data.update(changes)
    return data


def _nothing_saved() -> bool:
    return not Dataset.objects.exists() and not any(datasets.root().iterdir())


def test_the_datasets_page_offers_a_query_to_whoever_may_train(analyst, viewer):
    client = Client()
    client.force_login(analyst)
    page = client.get(reverse("registry:datasets")).content.decode()
    assert "From a database" in page and f'action="{URL}"' in page
    assert '<option value="demo">demo</option>' in page
    client.force_login(viewer)
    viewer_page = client.get(reverse("registry:datasets")).content.decode()
    assert "From a database" not in viewer_page


def test_a_preview_shows_the_first_rows_and_stores_nothing(analyst_client, table):
    response = analyst_client.post(URL, _form(table, action="preview"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="query-preview"' in page
    assert "<td>Recife</td>" in page and "<td>O&#x27;Brien</td>" in page
    assert "Preview: the first 3 rows" in page
    assert _nothing_saved()


def test_a_snapshot_makes_a_dataset_and_its_page_shows_the_source(
    analyst_client, analyst, table
):
    response = analyst_client.post(URL, _form(table, name="cities"))
    dataset = Dataset.objects.get()
    assert response.status_code == 302 and response["Location"] == (
        dataset.get_absolute_url()
    )
    assert dataset.name == "cities" and dataset.rows == 3
    assert dataset.created_by == analyst and dataset.params == {"first": "1"}
    page = analyst_client.get(dataset.get_absolute_url()).content.decode()
    assert 'id="dataset-source"' in page
    assert "<code>demo</code>" in page and f"FROM {table} WHERE id &gt;= :first" in page
    assert "<code>:first</code> = <code>1</code>" in page
    assert dataset.snapshot_at.strftime("%Y-%m-%d %H:%M") in page
    # The train page works on it unchanged.
    train = analyst_client.get(reverse("registry:train", args=[dataset.pk]))
    assert train.status_code == 200 and 'value="city"' in train.content.decode()
    listing = analyst_client.get(reverse("registry:datasets")).content.decode()
    assert "<td>demo</td>" in listing


def test_the_same_rows_again_lead_to_the_same_dataset(analyst_client, table):
    first = analyst_client.post(URL, _form(table))
    again = analyst_client.post(URL, _form(table), follow=True)
    assert Dataset.objects.count() == 1
    assert again.redirect_chain[-1][0] == first["Location"]
    assert "These rows were snapshotted before" in again.content.decode()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"query": "DELETE FROM {t}"}, "query", "DELETE is not a read"),
        ({"query": "SELECT id FROM {t} WHERE"}, "query", "could not be read as SQLite"),
        ({"params": ""}, "params", "uses :first, with no value given"),
        ({"params": "first=1\nlast=2"}, "params", "given for :last"),
        ({"params": "first"}, "params", "Line 1 is not name=value"),
        ({"params": "first=1\nfirst=2"}, "params", "gives first a second time"),
        ({"datasource": "nowhere"}, "datasource", "Select a valid choice"),
        ({"query": ""}, "query", "This field is required"),
        ({"params": "first=100"}, "query", "returned no rows"),
        ({"query": "SELECT id, id FROM {t}", "params": ""}, "query", "named id"),
    ],
)
def test_bad_input_is_refused_with_its_reason(
    analyst_client, table, changes, field, message
):
    changes = {key: value.format(t=table) for key, value in changes.items()}
    for action in ("preview", "snapshot"):
        if action == "preview" and message in ("returned no rows", "named id"):
            continue  # found only when the rows are read
        response = analyst_client.post(URL, _form(table, action=action, **changes))
        assert response.status_code == 400
        errors = response.context["query_form"].errors
        assert message in " ".join(errors[field]), errors
        assert _nothing_saved()
    assert odbc.probe("demo", f"SELECT COUNT(*) FROM {table}").value == 3


def test_it_needs_login_the_train_role_post_and_csrf(client, viewer, analyst, table):
    response = client.post(URL, _form(table))
    assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(viewer)
    assert client.post(URL, _form(table)).status_code == 403
    client.force_login(analyst)
    assert client.get(URL).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(analyst)
    assert strict.post(URL, _form(table)).status_code == 403
    assert _nothing_saved()
