import pytest
from django.core.management import call_command
from django.urls import reverse

from showroom import demo
from showroom.models import CaseSource

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def test_the_demo_cases_exist_before_the_model(demo_table, capsys):
    call_command("demo_cases")
    assert "demo cases: 8 cases of penguins from demo" in capsys.readouterr().out
    call_command("demo_cases")  # idempotent
    assert CaseSource.objects.count() == 1


def test_an_analysts_query_is_left_alone(demo_table):
    CaseSource.objects.create(
        model_name="penguins", datasource="demo", query="SELECT 1", max_rows=1
    )
    assert demo.ensure_cases().query == "SELECT 1"


def test_the_demo_cases_are_predicted(analyst_client, tiny_classifier, demo_table):
    demo.ensure_cases()
    page = analyst_client.get(reverse("showroom:model", args=["penguins"]))
    listed = page.context["listed"][0]
    assert [row["id"] for row in listed.rows] == list(demo.CASE_IDS)
    response = analyst_client.post(
        reverse("showroom:predict_listed", args=["penguins"]), {"origin": "query"}
    )
    assert response.status_code == 200, response.content
    predicted = [r.prediction for r in response.context["outcome"].results]
    known = [row["species"] for row in listed.rows]
    # The penguin with every measurement missing may go either way.
    assert sum(p == k for p, k in zip(predicted, known, strict=True)) >= 7


def test_without_the_demo_table_the_command_fails_clearly(settings_demo_missing):
    with pytest.raises(Exception, match="demo cases: The case query failed"):
        call_command("demo_cases")


@pytest.fixture
def settings_demo_missing():
    from mlframework.lib import odbc

    path = odbc.sqlite_database_path("demo")
    if path.exists():
        path.unlink()
    yield


def test_the_query_lists_the_case_ids():
    assert f"WHERE id IN ({', '.join(map(str, demo.CASE_IDS))})" in demo.QUERY
