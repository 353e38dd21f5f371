"""A run's rows as CSV in the reader's dialect (pt-BR: ';' and decimal comma)."""

import csv
import io

import pytest
from django.urls import reverse

from dispatch import runner
from dispatch.models import RunStatus
from mlframework.core.models import Profile

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def scored_run(tiny_classifier, make_dispatch, source_table, tables):
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {source_table('demo')}",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
        include_probabilities=True,
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


def _column(rows: list[list[str]], prefix: str) -> list[str]:
    """The values of the first column whose name starts with prefix."""
    index = next(i for i, name in enumerate(rows[0]) if name.startswith(prefix))
    return [row[index] for row in rows[1:]]


def _download(client, run) -> str:
    response = client.get(reverse("dispatch:run_csv", args=[run.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    return b"".join(response.streaming_content).decode()


def test_a_portuguese_user_gets_semicolons_and_decimal_commas(
    client, viewer, scored_run
):
    Profile.objects.create(user=viewer, language="pt-br")
    client.force_login(viewer)
    text = _download(client, scored_run)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0][:2] == ["id", "prediction"] and len(rows) == 345
    probabilities = _column(rows, "proba_")
    # "0,9876", never "0.9876" (nor a thousands dot).
    assert all("," in p and "." not in p for p in probabilities if p != "0")
    assert all(0 <= float(p.replace(",", ".")) <= 1 for p in probabilities)


def test_an_english_user_gets_commas_and_decimal_points(viewer_client, scored_run):
    text = _download(viewer_client, scored_run)
    rows = list(csv.reader(io.StringIO(text)))
    assert not text.startswith("\ufeff") and rows[0][:2] == ["id", "prediction"]
    assert all("," not in p for p in _column(rows, "proba_"))
    assert any("." in p for p in _column(rows, "proba_"))


def test_the_browsers_language_picks_the_dialect_without_a_choice(
    viewer_client, scored_run
):
    response = viewer_client.get(
        reverse("dispatch:run_csv", args=[scored_run.pk]),
        headers={"accept-language": "pt-BR"},
    )
    assert b"".join(response.streaming_content).decode().startswith("\ufeffid;")
