"""The drift check page (monitor:drift_check): a file or a query against a
version; the report shown; refusals named; nothing written."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from mlframework.lib import odbc
from monitor.models import RunDrift
from registry.models import Dataset

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def inputs(penguins_frame):
    return penguins_frame.drop(columns=["species"])


@pytest.fixture
def url(tiny_classifier):
    return reverse("monitor:drift_check", args=[tiny_classifier.pk])


def upload(frame, name="rows.csv"):
    return SimpleUploadedFile(name, frame.to_csv(index=False).encode(), "text/csv")


def demo_tables() -> list[str]:
    _, rows = odbc.preview(
        "demo", "SELECT name FROM sqlite_master WHERE type = 'table'", rows=1000
    )
    return sorted(row["name"] for row in rows)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_the_page_offers_a_file_or_a_query(analyst_client, url, tiny_classifier):
    response = analyst_client.get(url)
    assert response.status_code == 200
    page = text(response)
    assert "Check drift against penguins v1" in page
    assert 'type="file" name="file"' in page
    assert '<option value="demo">demo</option>' in page
    assert 'name="sql"' in page
    assert "csrfmiddlewaretoken" in page
    assert "At most 200000 rows (<code>monitor.check_max_rows</code>)" in page


def test_a_file_shows_its_report(analyst_client, url, inputs, tiny_classifier):
    tables = demo_tables()
    shifted = inputs.assign(flipper_length_mm=inputs["flipper_length_mm"] + 40)
    response = analyst_client.post(url, {"file": upload(shifted)})
    assert response.status_code == 200
    report = response.context["report"]
    assert report.rows == 344 and "flipper_length_mm" in report.drifted
    page = text(response)
    assert "Drift of the file rows.csv" in page
    assert "Dataset drift" in page and "Prediction drift" in page
    # One row per feature, in the report's order (by importance).
    shown = re.findall(r'<tr data-feature="([a-z_]+)"', page)
    assert shown == [feature.name for feature in report.features] + ["prediction"]
    flipper = report.get("flipper_length_mm")
    row = re.search(
        r'<tr data-feature="flipper_length_mm" data-drifted="yes">.*?</tr>', page
    )
    assert row and flipper.method in row.group(0)
    assert f"{flipper.threshold:.4g}" in row.group(0)
    # Nothing written: no run drift, no dataset, no table.
    assert RunDrift.objects.count() == 0
    assert not Dataset.objects.exists()
    assert demo_tables() == tables


def test_a_query_shows_its_report(
    operator_client, url, inputs, tiny_classifier, drift_table
):
    name = drift_table("demo", inputs)
    tables = demo_tables()
    response = operator_client.post(
        url, {"datasource": "demo", "sql": f"SELECT * FROM {name}"}
    )
    assert response.status_code == 200
    assert "Drift of the query on demo" in text(response)
    report = response.context["report"]
    assert report.rows == 344 and not report.dataset_drift
    assert '<span class="status-up">no</span>' in text(response)
    assert RunDrift.objects.count() == 0 and demo_tables() == tables


def test_an_empty_file_is_a_no_rows_report(analyst_client, url, inputs):
    response = analyst_client.post(url, {"file": upload(inputs.head(0))})
    assert response.status_code == 200
    assert "Not checked: no rows (0 rows)." in text(response)


def test_it_needs_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client.post(url, {"datasource": "demo", "sql": "SELECT 1"})
    assert response.status_code == 302


@pytest.mark.parametrize("who", ["viewer_client", "nobody"])
def test_it_needs_the_showroom_or_the_operator_role(who, request, client, url, inputs):
    if who == "nobody":
        client.force_login(request.getfixturevalue("nobody"))
        user_client = client
    else:
        user_client = request.getfixturevalue(who)
    assert user_client.get(url).status_code == 403
    response = user_client.post(url, {"file": upload(inputs)})
    assert response.status_code == 403
    assert "use showroom or operate dispatches" in text(response)


def test_it_answers_only_get_and_post(analyst_client, url):
    assert analyst_client.put(url).status_code == 405
    assert analyst_client.delete(url).status_code == 405


def test_an_unknown_version_is_404(analyst_client, tiny_classifier):
    url = reverse("monitor:drift_check", args=[tiny_classifier.pk + 100])
    assert analyst_client.get(url).status_code == 404


def test_a_post_needs_the_csrf_token(analyst, url, inputs):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(analyst)
    assert strict.post(url, {"file": upload(inputs)}).status_code == 403


def refused(response, message: str, field: str | None = None) -> None:
    assert response.status_code == 400
    assert response.context["report"] is None
    form = response.context["form"]
    errors = form.non_field_errors() if field is None else form.errors[field]
    assert any(message in error for error in errors), errors
    assert message in response.content.decode().replace("&#x27;", "'")
    assert RunDrift.objects.count() == 0


def test_it_refuses_neither_and_both(analyst_client, url, inputs):
    refused(
        analyst_client.post(url, {}),
        "Upload a file, or choose a datasource and give a query.",
    )
    refused(
        analyst_client.post(
            url, {"file": upload(inputs), "datasource": "demo", "sql": "SELECT 1"}
        ),
        "Give a file or a query, not both.",
    )
    refused(
        analyst_client.post(url, {"sql": "SELECT 1"}),
        "Choose the datasource the query runs on.",
        "datasource",
    )
    refused(
        analyst_client.post(url, {"datasource": "demo"}),
        "Give the query to check.",
        "sql",
    )


def test_it_refuses_an_unknown_datasource(analyst_client, url):
    refused(
        analyst_client.post(url, {"datasource": "sales", "sql": "SELECT 1"}),
        "Select a valid choice. sales is not one of the available choices.",
        "datasource",
    )


def test_it_refuses_a_query_that_writes(analyst_client, url):
    refused(
        analyst_client.post(url, {"datasource": "demo", "sql": "DELETE FROM penguins"}),
        "The query is refused: demo: ",
        "sql",
    )


def test_it_refuses_missing_columns_by_name(analyst_client, url, inputs):
    refused(
        analyst_client.post(url, {"file": upload(inputs.drop(columns=["sex"]))}),
        "rows.csv: penguins v1 needs column(s) missing from the input: sex.",
        "file",
    )


def test_it_names_the_row_and_column_of_a_bad_value(analyst_client, url, inputs):
    frame = inputs.astype({"bill_depth_mm": object})
    frame.loc[frame.index[9], "bill_depth_mm"] = "deep"
    refused(
        analyst_client.post(url, {"file": upload(frame)}),
        "rows.csv, row 10, column bill_depth_mm: 'deep' is not a number.",
        "file",
    )


def test_it_refuses_an_unreadable_or_empty_file(analyst_client, url):
    zipped = SimpleUploadedFile("rows.zip", b"PK\x03\x04" + b"\0" * 40)
    refused(
        analyst_client.post(url, {"file": zipped}),
        "rows.zip is a zip archive",
        "file",
    )
    empty = SimpleUploadedFile("empty.csv", b"")
    refused(
        analyst_client.post(url, {"file": empty}),
        "The submitted file is empty.",
        "file",
    )


def test_it_refuses_an_upload_beyond_the_limit_by_its_length(
    analyst_client, url, settings, use_config
):
    import dataclasses

    use_config(training=dataclasses.replace(settings.CONFIG.training, max_upload_mb=1))
    big = SimpleUploadedFile("big.csv", b"a,b\n" + b"1,2\n" * 400_000)
    response = analyst_client.post(url, {"file": big})
    assert response.status_code == 413
    assert "larger than the 1 MB upload limit" in text(response)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("who", "linked"), [("analyst", True), ("operator", True), ("viewer", False)]
)
def test_the_version_page_links_here_for_those_who_may_check(
    who, linked, request, client, url, tiny_classifier
):
    client.force_login(request.getfixturevalue(who))
    page = client.get(reverse("registry:version", args=["penguins", 1]))
    assert (f'href="{url}"' in page.content.decode()) is linked
