import pyarrow as pa
import pytest
from django.conf import settings
from django.urls import reverse

from conftest import require_datasource
from mlframework.lib import odbc
from showroom.models import CaseSource
from showroom.tests.conftest import showroom_events

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def form_data(**changes):
    data = {
        "ref": "1",
        "island": "Biscoe",
        "bill_length_mm": "47.5",
        "bill_depth_mm": "14.2",
        "flipper_length_mm": "217",
        "body_mass_g": "4900",
        "sex": "female",
        "year": "2008",
    }
    data.update(changes)
    return data


# --- index ------------------------------------------------------------------


def test_the_index_lists_models(viewer_client, tiny_classifier):
    response = viewer_client.get(reverse("showroom:index"))
    assert response.status_code == 200
    assert b"penguins" in response.content
    assert b"production" in response.content
    # Viewers see the models but not the button to try them.
    assert reverse("showroom:model", args=["penguins"]).encode() not in response.content


def test_the_index_offers_analysts_a_try(analyst_client, tiny_classifier):
    response = analyst_client.get(reverse("showroom:index"))
    assert reverse("showroom:model", args=["penguins"]).encode() in response.content


def test_the_index_says_when_there_is_no_model(viewer_client):
    response = viewer_client.get(reverse("showroom:index"))
    assert b"There is no model to try yet" in response.content


def test_the_index_needs_a_login_and_get(client, viewer_web):
    assert client.get(reverse("showroom:index")).status_code == 302
    assert viewer_web.post(reverse("showroom:index")).status_code == 405


# --- the model page -----------------------------------------------------------


def test_the_model_page_shows_the_schema_form_and_score(
    analyst_client, tiny_classifier
):
    response = analyst_client.get(reverse("showroom:model", args=["penguins"]))
    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.fields) == tiny_classifier.feature_names()
    assert response.context["version"] == tiny_classifier
    html = response.content.decode()
    assert "Predicts <strong>species</strong>" in html
    assert f"Held-out {tiny_classifier.eval_metric}" in html
    assert 'name="island"' in html and "Torgersen" in html
    assert "chart.umd.min.js" in html


def test_the_model_page_lists_the_case_query(analyst_client, case_source):
    response = analyst_client.get(reverse("showroom:model", args=["penguins"]))
    [query_cases, *_] = response.context["listed"]
    assert query_cases.origin == "query"
    assert len(query_cases.rows) == 5
    assert query_cases.rows[0]["island"] == "Torgersen"
    assert b"Predict all 5" in response.content


def test_a_broken_case_query_is_explained_on_the_page(analyst_client, case_source):
    CaseSource.objects.filter(pk=case_source.pk).update(query="SELECT * FROM nowhere")
    response = analyst_client.get(reverse("showroom:model", args=["penguins"]))
    assert response.status_code == 200
    assert b"The case query failed" in response.content
    assert b"nowhere" in response.content


def test_a_stored_case_query_that_writes_is_refused_on_every_view(
    analyst_client, case_source
):
    # Saved before queries were checked, or written to the database directly.
    CaseSource.objects.filter(pk=case_source.pk).update(
        query="WITH x AS (SELECT 1) DELETE FROM penguins WHERE id > 0"
    )
    for _ in range(2):
        response = analyst_client.get(reverse("showroom:model", args=["penguins"]))
        assert response.status_code == 200
        assert b"The case query is refused" in response.content
    assert odbc.preview("demo", "SELECT COUNT(*) AS n FROM penguins")[1] == [{"n": 344}]


def test_a_case_query_of_millions_of_rows_lists_only_its_rows(
    analyst_client, case_source
):
    CaseSource.objects.filter(pk=case_source.pk).update(
        query="WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
        "WHERE x < 6000000) SELECT p.* FROM n JOIN penguins p ON p.id = 1 + x % 300"
    )
    response = analyst_client.get(reverse("showroom:model", args=["penguins"]))
    [query_cases, *_] = response.context["listed"]
    assert len(query_cases.rows) == 5


def test_the_model_page_picks_a_version(
    analyst_client, tiny_classifier, penguins_frame
):
    from registry.tests.helpers import train_tiny

    second = train_tiny(penguins_frame, "species", "penguins", alias=None)
    url = reverse("showroom:model", args=["penguins"])
    assert analyst_client.get(url).context["version"] == tiny_classifier
    assert analyst_client.get(url, {"ref": "2"}).context["version"] == second
    assert analyst_client.get(url, {"ref": "v2"}).context["version"] == second


def test_an_unknown_model_or_version_is_404(analyst_client, tiny_classifier):
    assert (
        analyst_client.get(reverse("showroom:model", args=["nope"])).status_code == 404
    )
    url = reverse("showroom:model", args=["penguins"])
    response = analyst_client.get(url, {"ref": "7"})
    assert response.status_code == 404
    assert b"Model penguins has no version 7." in response.content
    assert b"?ref=production" in response.content
    assert analyst_client.get(url, {"ref": "x y;"}).status_code == 404


def test_the_model_page_needs_the_showroom_permission(viewer_client, tiny_classifier):
    response = viewer_client.get(reverse("showroom:model", args=["penguins"]))
    assert response.status_code == 403


def test_the_model_page_is_get_only(analyst_client, tiny_classifier):
    response = analyst_client.post(reverse("showroom:model", args=["penguins"]))
    assert response.status_code == 405


def test_a_listed_case_fills_the_form(analyst_client, tiny_classifier):
    url = reverse("showroom:form", args=["penguins"])
    response = analyst_client.get(url, {"ref": "1", "island": "Dream", "year": "2009"})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["island"] == "Dream"
    assert 'value="2009"' in response.content.decode()


# --- predicting ---------------------------------------------------------------


def test_it_predicts_the_form_case(analyst_client, analyst, tiny_classifier):
    url = reverse("showroom:predict", args=["penguins"])
    response = analyst_client.post(url, form_data(), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Trigger"] == "showroom-predicted"
    outcome = response.context["outcome"]
    assert outcome.results[0].prediction == "Gentoo"
    html = response.content.decode()
    assert 'data-testid="prediction"' in html and "Gentoo" in html
    assert "data-probabilities" in html
    assert "ms" in html
    [event] = showroom_events()
    assert event.user_id == analyst.pk
    assert event.model_version_id == tiny_classifier.pk
    assert event.data["origin"] == "form"
    assert event.data["inputs"][0]["flipper_length_mm"] == 217.0


def test_a_regression_shows_the_typical_error(analyst_client, tiny_regressor):
    data = form_data(species="Gentoo")
    del data["body_mass_g"]
    url = reverse("showroom:predict", args=["penguins-mass"])
    response = analyst_client.post(url, data)
    assert response.status_code == 200, response.content
    html = response.content.decode()
    assert "±" in html
    assert "data-probabilities" not in html


def test_a_bad_form_case_is_shown_with_its_messages(analyst_client, tiny_classifier):
    url = reverse("showroom:predict", args=["penguins"])
    response = analyst_client.post(
        url, form_data(bill_length_mm="long", island="Atlantis")
    )
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#case-form"
    html = response.content.decode()
    assert "bill_length_mm: expected a number, got &#x27;long&#x27;" in html
    assert "island: Select a valid choice." in html
    assert showroom_events() == []


def test_predicting_needs_the_permission(viewer_client, tiny_classifier):
    url = reverse("showroom:predict", args=["penguins"])
    assert viewer_client.post(url, form_data()).status_code == 403
    assert showroom_events() == []


def test_predicting_is_post_only(analyst_client, tiny_classifier):
    url = reverse("showroom:predict", args=["penguins"])
    assert analyst_client.get(url, form_data()).status_code == 405


def test_it_predicts_one_listed_case(analyst_client, case_source):
    url = reverse("showroom:predict_listed", args=["penguins"])
    response = analyst_client.post(url, {"origin": "query", "index": "2", "ref": "1"})
    assert response.status_code == 200, response.content
    [result] = response.context["outcome"].results
    assert result.prediction == "Adelie"
    [event] = showroom_events()
    assert event.data["origin"] == "query"
    assert event.data["rows"] == 1


def test_it_predicts_every_listed_case(analyst_client, case_source):
    url = reverse("showroom:predict_listed", args=["penguins"])
    response = analyst_client.post(url, {"origin": "query", "ref": "production"})
    assert response.status_code == 200
    predictions = [r.prediction for r in response.context["outcome"].results]
    assert predictions == ["Adelie"] * 5
    [event] = showroom_events()
    assert event.data["rows"] == 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"origin": "query", "index": "99"}, "There is no case 100"),
        ({"origin": "elsewhere"}, "Select a valid choice"),
        ({"origin": "query", "index": "-1"}, "greater than or equal to 0"),
    ],
)
def test_a_bad_listed_case_is_refused(analyst_client, case_source, data, message):
    url = reverse("showroom:predict_listed", args=["penguins"])
    response = analyst_client.post(url, {**data, "ref": "1"})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert showroom_events() == []


def test_listed_cases_need_a_case_query(analyst_client, tiny_classifier):
    url = reverse("showroom:predict_listed", args=["penguins"])
    response = analyst_client.post(url, {"origin": "query", "ref": "1"})
    assert response.status_code == 422
    assert b"This model has no case query." in response.content


def test_listed_cases_need_the_permission_and_post(
    viewer_web, analyst_client, case_source
):
    url = reverse("showroom:predict_listed", args=["penguins"])
    assert viewer_web.post(url, {"origin": "query"}).status_code == 403
    assert analyst_client.get(url, {"origin": "query"}).status_code == 405
    assert showroom_events() == []


def test_recent_predictions_show_up(analyst_client, tiny_classifier):
    analyst_client.post(reverse("showroom:predict", args=["penguins"]), form_data())
    response = analyst_client.get(reverse("showroom:recent", args=["penguins"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "ana" in html and "Gentoo" in html and "(form)" in html
    assert 'hx-trigger="showroom-predicted from:body' in html
    page = analyst_client.get(reverse("showroom:model", args=["penguins"]))
    assert len(page.context["recent"]) == 1


def test_recent_predictions_need_the_permission(
    viewer_web, analyst_client, tiny_classifier
):
    url = reverse("showroom:recent", args=["penguins"])
    assert viewer_web.get(url).status_code == 403
    assert analyst_client.post(url).status_code == 405


# --- the case query -------------------------------------------------------------


def test_an_analyst_configures_the_case_query(
    analyst_client, analyst, tiny_classifier, demo_table
):
    url = reverse("showroom:case_source", args=["penguins"])
    assert analyst_client.get(url).status_code == 200
    response = analyst_client.post(
        url,
        {
            "datasource": "demo",
            "query": "SELECT * FROM penguins WHERE island = 'Dream';",
            "max_rows": "3",
        },
    )
    assert response.status_code == 302
    source = CaseSource.objects.get(model_name="penguins")
    assert source.query == "SELECT * FROM penguins WHERE island = 'Dream'"
    assert source.updated_by == analyst
    [event] = showroom_events(kind="case_source_saved")
    assert "3 rows" in event.message


@pytest.mark.parametrize("server", ["mariadb", "postgres"])
def test_a_case_query_on_a_database_server(analyst_client, tiny_classifier, server):
    require_datasource(server)
    double = odbc.sql_type(server, pa.float64())
    odbc.execute(server, "DROP TABLE IF EXISTS showroom_cases")
    odbc.execute(
        server,
        f"CREATE TABLE showroom_cases (island VARCHAR(20), bill_length_mm {double}, "
        f"bill_depth_mm {double}, flipper_length_mm INT, body_mass_g INT, "
        "sex VARCHAR(8), year INT)",
    )
    try:
        odbc.execute(
            server,
            "INSERT INTO showroom_cases VALUES "
            "('Biscoe', 47.5, 14.2, 217, 4900, 'female', 2008)",
        )
        url = reverse("showroom:case_source", args=["penguins"])
        response = analyst_client.post(
            url,
            {
                "datasource": server,
                "query": "SELECT * FROM showroom_cases",
                "max_rows": "10",
            },
        )
        assert response.status_code == 302, response.content
        predict = reverse("showroom:predict_listed", args=["penguins"])
        response = analyst_client.post(predict, {"origin": "query", "index": "0"})
        assert response.context["outcome"].results[0].prediction == "Gentoo"
    finally:
        odbc.execute(server, "DROP TABLE IF EXISTS showroom_cases")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"query": "DELETE FROM penguins"}, "query", "DELETE is not a read"),
        ({"query": "SELECT 1; DROP TABLE penguins"}, "query", "holds 2 statements"),
        (
            {"query": "WITH x AS (SELECT 1) DELETE FROM penguins WHERE id > 0"},
            "query",
            "DELETE inside a WITH is not a read",
        ),
        (
            {"query": "SELECT * FROM missing_table"},
            "query",
            "The case query failed: demo:",
        ),
        ({"datasource": "secret"}, "datasource", "Select a valid choice"),
        ({"max_rows": "0"}, "max_rows", "greater than or equal to 1"),
        ({"max_rows": "101"}, "max_rows", "less than or equal to 100"),
    ],
)
def test_a_bad_case_query_is_refused(
    analyst_client, tiny_classifier, demo_table, data, field, message
):
    url = reverse("showroom:case_source", args=["penguins"])
    body = {
        "datasource": "demo",
        "query": "SELECT * FROM penguins",
        "max_rows": "5",
        **data,
    }
    response = analyst_client.post(url, body)
    assert response.status_code == 400  # refused, re-rendered with the reasons
    assert message in str(response.context["form"].errors[field])
    assert not CaseSource.objects.exists()
    assert showroom_events() == []


def test_the_case_query_form_answers_200_until_refused(analyst_client, case_source):
    url = reverse("showroom:case_source", args=["penguins"])
    response = analyst_client.get(url)
    assert response.status_code == 200 and not response.context["form"].errors


def test_the_case_query_needs_the_permission(
    viewer_web, analyst_client, tiny_classifier
):
    url = reverse("showroom:case_source", args=["penguins"])
    assert viewer_web.get(url).status_code == 403
    body = {"datasource": "demo", "query": "SELECT 1", "max_rows": "5"}
    assert viewer_web.post(url, body).status_code == 403
    assert analyst_client.put(url).status_code == 405
    assert not CaseSource.objects.exists()


def test_the_case_query_can_be_removed(analyst_client, viewer_web, case_source):
    url = reverse("showroom:case_source_delete", args=["penguins"])
    assert viewer_web.post(url).status_code == 403
    assert analyst_client.get(url).status_code == 405
    assert CaseSource.objects.exists()
    assert analyst_client.post(url).status_code == 302
    assert not CaseSource.objects.exists()
    assert len(showroom_events(kind="case_source_deleted")) == 1


def test_the_model_page_lists_sample_rows(analyst_client, sampled_classifier):
    response = analyst_client.get(reverse("showroom:model", args=["penguins"]))
    [sample] = response.context["listed"]
    assert sample.origin == "sample"
    assert len(sample.rows) == settings.CONFIG.showroom.sample_rows
    assert "species" in sample.columns  # the known answer, shown beside
    # The same rows every time: case 3 is the same penguin for browser and server.
    again = analyst_client.get(reverse("showroom:model", args=["penguins"]))
    assert again.context["listed"][0].rows == sample.rows


def test_it_predicts_sample_rows(analyst_client, sampled_classifier):
    page = analyst_client.get(reverse("showroom:model", args=["penguins"]))
    rows = page.context["listed"][0].rows
    url = reverse("showroom:predict_listed", args=["penguins"])
    response = analyst_client.post(url, {"origin": "sample", "ref": "1"})
    assert response.status_code == 200, response.content
    predicted = [r.prediction for r in response.context["outcome"].results]
    actual = [row["species"] for row in rows]
    assert sum(p == a for p, a in zip(predicted, actual, strict=True)) >= 8
    [event] = showroom_events()
    assert event.data["origin"] == "sample"


def test_without_training_data_the_page_says_so(analyst_client, tiny_classifier):
    response = analyst_client.get(reverse("showroom:model", args=["penguins"]))
    assert b"keeps no training data for this version" in response.content


def test_a_large_training_file_is_not_read_for_samples(
    analyst_client, sampled_classifier
):
    from showroom import cases

    dataset = sampled_classifier.dataset
    dataset.size_bytes = cases.READ_LIMIT_BYTES + 1
    dataset.save(update_fields=["size_bytes"])
    from registry import datasets

    datasets.path_of(dataset).unlink()  # would fail if it were read
    response = analyst_client.get(reverse("showroom:model", args=["penguins"]))
    [sample] = response.context["listed"]
    assert len(sample.rows) == len(dataset.profile["sample"])
    assert sample.rows[0]["species"] == "Adelie"  # the file's first row


def test_an_unavailable_version_is_explained(analyst_client, tiny_classifier):
    from registry import services as registry

    tiny_classifier.aliases.all().delete()
    registry.archive(tiny_classifier)
    url = reverse("showroom:predict", args=["penguins"])
    response = analyst_client.post(url, form_data())
    assert response.status_code == 422
    assert b"archived" in response.content
    assert showroom_events() == []
