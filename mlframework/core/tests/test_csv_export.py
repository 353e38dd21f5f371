"""CSV downloads in the reader's dialect (core.csv_export)."""

import csv
import datetime as dt
import io
import zoneinfo
from decimal import Decimal

from django.utils import translation

from mlframework.core import csv_export

ROWS = [
    ["id", "prediction", "probability", "scored_at", "day", "note"],
    [
        1,
        "Gentoo",
        0.987654321,
        dt.datetime(2026, 12, 2, 14, 5, 9),
        dt.date(2023, 2, 5),
        None,
    ],
    [2, 4321.5, Decimal("1234.56"), None, None, 'say "hi"; then, go'],
]


def _text(language: str) -> str:
    return "".join(csv_export.rows(ROWS, csv_export.dialect(language)))


def test_brazilian_portuguese_uses_semicolons_and_decimal_commas():
    text = _text("pt-br")
    assert text.startswith("\ufeff")  # Excel's cue that the file is UTF-8
    lines = text[1:].splitlines()
    assert lines[0] == "id;prediction;probability;scored_at;day;note"
    assert lines[1] == "1;Gentoo;0,987654321;02/12/2026 14:05:09;05/02/2023;"
    assert lines[2] == '2;4321,5;1234,56;;;"say ""hi""; then, go"'


def test_english_uses_commas_and_decimal_points_as_before():
    lines = _text("en").splitlines()
    assert lines[0] == "id,prediction,probability,scored_at,day,note"
    assert lines[1] == "1,Gentoo,0.987654321,2026-12-02 14:05:09,2023-02-05,"
    assert lines[2] == '2,4321.5,1234.56,,,"say ""hi""; then, go"'


def test_a_spreadsheet_reading_the_dialect_gets_the_values_back():
    reader = csv.reader(io.StringIO(_text("pt-br")[1:]), delimiter=";")
    rows = list(reader)
    assert float(rows[1][2].replace(",", ".")) == ROWS[1][2]
    assert rows[2][5] == ROWS[2][5]


def test_no_thousands_separator_in_numbers():
    dialect = csv_export.dialect("pt-br")
    assert csv_export.cell(1234567.25, dialect) == "1234567,25"
    assert csv_export.cell(1234567, dialect) == "1234567"


def test_missing_and_boolean_cells():
    dialect = csv_export.dialect("pt-br")
    assert csv_export.cell(float("nan"), dialect) == ""
    assert csv_export.cell(None, dialect) == ""
    assert csv_export.cell(True, dialect) == "True"


def test_aware_times_are_written_in_the_servers_zone(settings):
    settings.TIME_ZONE = "America/Sao_Paulo"
    moment = dt.datetime(2026, 12, 2, 15, 0, tzinfo=zoneinfo.ZoneInfo("UTC"))
    assert csv_export.cell(moment, csv_export.dialect("pt-br")) == "02/12/2026 12:00:00"


def test_the_dialect_follows_the_active_language():
    with translation.override("pt-br"):
        assert csv_export.dialect().delimiter == ";"
    with translation.override("en"):
        assert csv_export.dialect().delimiter == ","
    assert csv_export.dialect("de").delimiter == ","  # unknown: English


def test_the_response_is_a_named_download_in_the_requests_dialect():
    with translation.override("pt-br"):
        response = csv_export.response(ROWS, "vendas de março.csv")
    # Streamed after the view returned, still in the dialect chosen then.
    body = b"".join(response.streaming_content).decode()
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    assert "vendas-de-marco.csv" in response["Content-Disposition"]
    assert body.splitlines()[1].startswith("\ufeff") is False
    assert body.startswith("\ufeffid;prediction;")
