"""The dataset page's column types: shown with their rule, changed by hand
before training (TRAIN permission), the Excel sheet and header row chosen;
and training reading the correction."""

import io

import openpyxl
import pytest
from django.urls import reverse

from registry import datasets, jobs, training
from registry.models import Dataset, TrainingJob
from registry.training import TrainOptions

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def _rows(count=60) -> bytes:
    # "peso" is 0.5 to 3.5 kg written with a decimal point and three decimals
    # ("1.234"): every value also fits the thousands dot, and the ";" of the
    # file makes the decimal comma the guess.
    lines = ["peso;cor;classe"]
    for i in range(count):
        weight = 0.5 + 3 * i / count
        lines.append(f"{weight:.3f};{'azul' if i % 2 else 'verde'};")
        lines[-1] += "pesado" if weight > 2 else "leve"
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def guessed(db):
    dataset, _ = datasets.store_upload(iter([_rows()]), filename="pesos.csv")
    return dataset


def _types_url(dataset):
    return reverse("registry:dataset_types", args=[dataset.pk])


def _choices(dataset, **changes) -> dict:
    from registry.forms import type_choice

    data = {}
    for index, column in enumerate(datasets.types_of(dataset)):
        data[f"type_{index}"] = changes.get(column.name, type_choice(column))
    return data


def test_the_page_shows_each_column_s_type_rule_and_the_ambiguity(
    analyst_client, guessed
):
    page = analyst_client.get(guessed.get_absolute_url()).content.decode()
    assert "How the file is read" in page
    assert "decimal comma, thousands dot" in page
    assert "Every value fits both conventions" in page
    assert 'name="type_0"' in page and 'value="number:point"' in page


def test_viewers_see_the_types_without_the_form(viewer_client, guessed):
    page = viewer_client.get(guessed.get_absolute_url()).content.decode()
    assert "decimal comma, thousands dot" in page
    assert 'name="type_0"' not in page


def test_a_correction_is_saved_and_shown(analyst_client, guessed):
    response = analyst_client.post(
        _types_url(guessed), _choices(guessed, peso="number:point")
    )
    assert response.status_code == 302
    guessed.refresh_from_db()
    peso = {c.name: c for c in datasets.types_of(guessed)}["peso"]
    assert (peso.convention, peso.by) == ("point", "user")
    profile = {c["name"]: c for c in guessed.profile["columns"]}
    assert profile["peso"]["max"] < 10  # profiled again with the correction
    page = analyst_client.get(guessed.get_absolute_url()).content.decode()
    assert "set by hand" in page


def test_a_column_can_be_ignored(analyst_client, guessed):
    analyst_client.post(_types_url(guessed), _choices(guessed, cor="ignore"))
    guessed.refresh_from_db()
    assert guessed.columns == ["peso", "classe"]
    assert "cor" not in datasets.read_frame(guessed)


def test_ignoring_every_column_is_refused_and_nothing_changes(analyst_client, guessed):
    before = guessed.column_types
    data = {key: "ignore" for key in _choices(guessed)}
    response = analyst_client.post(_types_url(guessed), data)
    assert response.status_code == 400
    assert b"At least one column must be read" in response.content
    guessed.refresh_from_db()
    assert guessed.column_types == before


def test_an_unknown_type_is_refused_naming_the_column(analyst_client, guessed):
    before = guessed.column_types
    response = analyst_client.post(
        _types_url(guessed), _choices(guessed, peso="money:gold")
    )
    assert response.status_code == 400
    assert b"peso" in response.content and b"valid choice" in response.content
    guessed.refresh_from_db()
    assert guessed.column_types == before


def test_changing_types_needs_the_train_permission(viewer_client, guessed):
    before = guessed.column_types
    response = viewer_client.post(
        _types_url(guessed), _choices(guessed, peso="number:point")
    )
    assert response.status_code == 403
    guessed.refresh_from_db()
    assert guessed.column_types == before


def test_changing_types_needs_login(client, guessed):
    response = client.post(_types_url(guessed), _choices(guessed))
    assert response.status_code == 302 and "login" in response["Location"]


def test_changing_types_is_post_only(analyst_client, guessed):
    assert analyst_client.get(_types_url(guessed)).status_code == 405
    url = reverse("registry:dataset_sheet", args=[guessed.pk])
    assert analyst_client.get(url).status_code == 405


def test_a_missing_file_is_a_clear_error_not_a_500(analyst_client, guessed):
    datasets.path_of(guessed).unlink()
    response = analyst_client.post(
        _types_url(guessed), _choices(guessed, peso="number:point")
    )
    assert response.status_code == 400
    assert b"missing from the server" in response.content


def _book() -> bytes:
    book = openpyxl.Workbook()
    first = book.active
    first.title = "Resumo"
    first.append(["Relatório"])
    first.append(["a", "b"])
    first.append([1, "x"])
    second = book.create_sheet("Dados")
    second.append(["n", "m"])
    second.append(["1,5", 2])
    second.append(["2,5", 3])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def workbook(db):
    dataset, _ = datasets.store_upload(iter([_book()]), filename="livro.xlsx")
    return dataset


def test_the_sheet_and_header_row_are_shown_and_can_be_changed(
    analyst_client, workbook
):
    page = analyst_client.get(workbook.get_absolute_url()).content.decode()
    assert "Sheet <strong>Resumo</strong>, header on row 2." in page
    assert 'name="header_row"' in page
    url = reverse("registry:dataset_sheet", args=[workbook.pk])
    response = analyst_client.post(url, {"sheet": "Dados", "header_row": "1"})
    assert response.status_code == 302
    workbook.refresh_from_db()
    assert workbook.columns == ["n", "m"]
    assert datasets.read_frame(workbook)["n"].tolist() == [1.5, 2.5]


def test_a_header_row_beyond_the_sheet_is_refused_and_nothing_changes(
    analyst_client, workbook
):
    before = (workbook.read_options, workbook.column_types)
    url = reverse("registry:dataset_sheet", args=[workbook.pk])
    response = analyst_client.post(url, {"sheet": "Dados", "header_row": "40"})
    assert response.status_code == 400
    assert b"the header cannot be on row 40" in response.content
    workbook.refresh_from_db()
    assert (workbook.read_options, workbook.column_types) == before


def test_a_sheet_that_does_not_exist_is_refused(analyst_client, workbook):
    url = reverse("registry:dataset_sheet", args=[workbook.pk])
    response = analyst_client.post(url, {"sheet": "Nope", "header_row": "1"})
    assert response.status_code == 400
    assert b"Nope" in response.content
    workbook.refresh_from_db()
    assert workbook.read_options["sheet"] == "Resumo"


def test_a_csv_has_no_sheet_form(analyst_client, guessed):
    page = analyst_client.get(guessed.get_absolute_url()).content.decode()
    assert 'name="header_row"' not in page
    url = reverse("registry:dataset_sheet", args=[guessed.pk])
    assert (
        analyst_client.post(url, {"sheet": "x", "header_row": "1"}).status_code == 400
    )


def test_training_uses_the_user_s_correction_and_records_it(
    analyst_client, analyst, guessed
):
    analyst_client.post(_types_url(guessed), _choices(guessed, peso="number:point"))
    guessed.refresh_from_db()
    job = jobs.submit(
        guessed,
        "pesos",
        TrainOptions(label="classe", fast=True, time_limit=30),
        user=analyst,
    )
    assert jobs.run(job.pk) == TrainingJob.Status.SUCCEEDED
    job.refresh_from_db()
    version = job.version
    peso = version.features.get("peso")
    assert peso.kind == "numeric" and peso.max < 10  # 3.45, not 3450
    extra = version.lineage.dataset.extra
    assert extra["corrected_columns"] == ["peso"]
    assert {c["name"]: c for c in extra["column_types"]}["peso"]["convention"] == (
        "point"
    )
    # Corrected again after training: the version's rows are rebuilt as trained.
    datasets.retype(
        Dataset.objects.get(pk=guessed.pk),
        corrections={"peso": {"type": "number", "convention": "comma"}},
    )
    train, test = training.stored_split(version)
    assert train["peso"].max() < 10 and test["peso"].max() < 10
