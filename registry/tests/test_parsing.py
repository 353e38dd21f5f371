"""registry.parsing and the upload path with generated files in each dialect:
CSV with ; and a decimal comma, with , and a decimal point, Latin-1 and UTF-8
with BOM, Excel with several sheets and a title row, Parquet."""

import datetime as dt
import io

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from registry import datasets, parsing
from registry.errors import DatasetError
from registry.models import Dataset

BR_ROWS = [
    ("valor", "quando", "hora", "ativo", "taxa", "preco", "cidade", "vazio"),
    ("1.234,56", "05/02/2023", "05/02/2023 14:30", "Sim", "12,5%", "R$ 1.234,56",
     "São Paulo", "NA"),
    ("2.000,00", "13/02/2023", "13/02/2023 08:00", "Não", "3%", "R$ 10,00",
     "Recife", "-"),
    ("-3,5", "01/03/2023", "01/03/2023 00:15", "Sim", "100%", "R$ 0,99",
     "Belém", "null"),
    ("", "28/02/2023", "28/02/2023 23:59", "", "N/A", "R$ 2.500,00", "Natal", ""),
]  # fmt: skip


def _csv(rows, delimiter, encoding="utf-8", bom=False) -> bytes:
    text = "\n".join(delimiter.join(row) for row in rows) + "\n"
    data = text.encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def _store(data: bytes, filename="export.csv", **kwargs):
    return datasets.store_upload(iter([data]), filename=filename, **kwargs)[0]


def _types(dataset) -> dict[str, parsing.ColumnType]:
    return {c.name: c for c in datasets.types_of(dataset)}


# --- Single values ----------------------------------------------------------


@pytest.mark.parametrize(
    "text, convention, expected",
    [
        ("1.234,56", parsing.COMMA, 1234.56),
        ("1,234.56", parsing.POINT, 1234.56),
        ("R$ 1.234,56", parsing.COMMA, 1234.56),
        ("$1,234.56", parsing.POINT, 1234.56),
        ("12,5%", parsing.COMMA, 0.125),
        ("-3,5", parsing.COMMA, -3.5),
        ("47,5", parsing.COMMA, 47.5),
        ("1.001,0000", parsing.COMMA, 1001.0),
        ("1e3", parsing.POINT, 1000.0),
    ],
)
def test_it_reads_numbers_in_both_conventions(text, convention, expected):
    assert parsing.parse_number(text, convention) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text, convention",
    [("1,234.56", parsing.COMMA), ("47,5", parsing.POINT), ("1.23.4", parsing.COMMA)],
)
def test_it_refuses_numbers_of_the_other_convention(text, convention):
    with pytest.raises(ValueError):
        parsing.parse_number(text, convention)


def test_it_reads_dates_day_first_month_first_and_iso():
    assert parsing.parse_date("05/02/2023", parsing.DAY_FIRST) == pd.Timestamp(
        "2023-02-05"
    )
    assert parsing.parse_date("05/02/2023", parsing.MONTH_FIRST) == pd.Timestamp(
        "2023-05-02"
    )
    assert parsing.parse_date("05/02/2023 14:30", parsing.DAY_FIRST) == pd.Timestamp(
        "2023-02-05 14:30"
    )
    assert parsing.parse_date("2023-02-05", parsing.DAY_FIRST) == pd.Timestamp(
        "2023-02-05"
    )
    with pytest.raises(ValueError):
        parsing.parse_date("31/31/2023", parsing.DAY_FIRST)


def test_missing_markers_are_missing():
    for marker in ("", " ", "NA", "N/A", "-", "null", "NULL", None, float("nan")):
        assert parsing.is_missing(marker), marker
    assert not parsing.is_missing("0")


# --- Detection on frames ----------------------------------------------------


def test_each_type_is_detected_with_its_rule():
    frame = pd.DataFrame(BR_ROWS[1:], columns=BR_ROWS[0])
    found = {c.name: c for c in parsing.detect(frame).columns}
    assert (found["valor"].type, found["valor"].convention) == ("number", "comma")
    assert found["valor"].rule == "decimal comma, thousands dot"
    assert (found["quando"].type, found["quando"].convention) == ("date", "day_first")
    assert found["quando"].rule == "day-first date"
    assert found["hora"].type == "date"
    assert found["ativo"].type == "boolean"
    assert found["taxa"].percent and found["taxa"].convention == "comma"
    assert found["taxa"].rule == "decimal comma, thousands dot, percentages"
    assert (found["preco"].type, found["preco"].convention) == ("number", "comma")
    assert found["cidade"].type == "category"
    assert found["vazio"].type == "category"  # nothing but missing markers


@pytest.mark.parametrize(
    "true, false",
    [("Sim", "Não"), ("S", "N"), ("true", "false"), ("yes", "no"), ("TRUE", "FALSE")],
)
def test_booleans_in_each_spelling(true, false):
    column = pd.Series([true, false, true, "", false])
    found = parsing.detect_column("b", column)
    assert found.type == "boolean"
    assert parsing.convert(column, found).tolist()[:2] == [True, False]


def test_an_ambiguous_column_takes_the_convention_of_the_rest_of_the_file():
    comma_file = pd.DataFrame({"amb": ["1.234", "2.500"], "other": ["1,5", "2,25"]})
    point_file = pd.DataFrame({"amb": ["1.234", "2.500"], "other": ["1.5", "2.25"]})
    in_comma = parsing.detect(comma_file).get("amb")
    in_point = parsing.detect(point_file).get("amb")
    assert in_comma.ambiguous and in_comma.convention == "comma"
    assert in_point.ambiguous and in_point.convention == "point"
    assert parsing.convert(comma_file["amb"], in_comma).tolist() == [1234, 2500]
    assert parsing.convert(point_file["amb"], in_point).tolist() == [1.234, 2.5]


def test_ambiguous_dates_take_the_order_of_the_file_s_numbers():
    frame = pd.DataFrame({"d": ["05/02/2023", "01/03/2023"], "n": ["1,5", "2,5"]})
    assert parsing.detect(frame).get("d").convention == "day_first"
    frame = pd.DataFrame({"d": ["05/02/2023", "01/03/2023"], "n": ["1.5", "2.5"]})
    assert parsing.detect(frame).get("d").convention == "month_first"


def test_with_nothing_else_in_the_file_the_hint_decides():
    frame = pd.DataFrame({"amb": ["1.234", "2.500"]})
    assert parsing.detect(frame, hint="comma").get("amb").convention == "comma"
    assert parsing.detect(frame).get("amb").convention == "point"


def test_whole_numbers_are_not_ambiguous():
    found = parsing.detect_column("n", pd.Series(["1", "22", "333"]))
    assert (found.type, found.ambiguous, found.rule) == (
        "number",
        False,
        "whole numbers",
    )
    assert parsing.convert(pd.Series(["1", "22"]), found).dtype == "int64"


def test_a_mostly_numeric_column_counts_its_stray_texts():
    values = [f"{i},5" for i in range(95)] + ["abc", "n/c", "?", "x", "y"]
    found = parsing.detect_column("n", pd.Series(values))
    assert found.type == "number"
    assert found.bad == 5
    assert found.examples == ("abc", "n/c", "?", "x", "y")
    converted = parsing.convert(pd.Series(values), found)
    assert converted.isna().sum() == 5 and converted.iloc[1] == 1.5


def test_below_the_threshold_a_column_is_text_not_numbers():
    values = [f"{i},5" for i in range(80)] + [f"code {i}" for i in range(20)]
    assert parsing.detect_column("n", pd.Series(values)).type == "category"


def test_a_correction_replaces_the_detected_type():
    detected = (parsing.ColumnType("amb", "number", "comma", ambiguous=True),)
    fixed = parsing.corrected(
        detected, {"amb": {"type": "number", "convention": "point"}}
    )
    assert fixed[0].convention == "point" and fixed[0].by == "user"
    assert not fixed[0].ambiguous
    assert "set by hand" in fixed[0].rule


def test_it_refuses_an_unknown_type_naming_the_column():
    with pytest.raises(DatasetError, match="Column preço: unknown type 'money'"):
        parsing.check_correction("preço", "money", "")
    with pytest.raises(DatasetError, match="Column d: choose how the date"):
        parsing.check_correction("d", "date", "sideways")


def test_column_types_round_trip_through_json():
    column = parsing.ColumnType(
        "x", "number", "comma", percent=True, bad=2, examples=("a",), ambiguous=True
    )
    assert parsing.ColumnType.from_json(column.to_json()) == column


# --- Uploads in each dialect ------------------------------------------------


@pytest.mark.parametrize(
    "encoding, bom",
    [("utf-8", False), ("utf-8", True), ("latin-1", False)],
    ids=["utf-8", "utf-8-bom", "latin-1"],
)
def test_a_brazilian_semicolon_export_is_typed(db, encoding, bom):
    dataset = _store(_csv(BR_ROWS, ";", encoding, bom))
    frame = datasets.read_frame(dataset)
    assert frame["valor"].tolist()[:3] == [1234.56, 2000.0, -3.5]
    assert np.isnan(frame["valor"].iloc[3])
    assert frame["quando"].dtype == "datetime64[ns]"
    assert frame["quando"].iloc[0] == pd.Timestamp("2023-02-05")
    assert frame["hora"].iloc[0] == pd.Timestamp("2023-02-05 14:30")
    assert frame["ativo"].tolist()[:2] == [True, False]
    assert frame["taxa"].tolist()[:3] == pytest.approx([0.125, 0.03, 1.0])
    assert frame["preco"].tolist() == pytest.approx([1234.56, 10.0, 0.99, 2500.0])
    assert frame["cidade"].tolist()[0] == "São Paulo"
    assert frame["vazio"].isna().all()
    profile = {c["name"]: c for c in dataset.profile["columns"]}
    assert profile["valor"]["kind"] == "numeric"
    assert profile["quando"]["kind"] == "datetime"
    assert dataset.profile["conventions"] == {"number": "comma", "date": "day_first"}


def test_a_comma_export_with_thousands_commas_is_typed(db):
    rows = [
        ("amount", "when", "ok", "price"),
        ('"1,234.56"', "2023-02-05", "true", '"$1,234.56"'),
        ('"2,000.00"', "2023-02-06 10:00", "false", "$10.00"),
        ("3.5", "2023-03-01", "true", "$0.99"),
    ]
    dataset = _store(_csv(rows, ","), filename="us.csv")
    types = _types(dataset)
    assert (types["amount"].type, types["amount"].convention) == ("number", "point")
    assert types["when"].convention == "iso"
    frame = datasets.read_frame(dataset)
    assert frame["amount"].tolist() == [1234.56, 2000.0, 3.5]
    assert frame["price"].tolist() == [1234.56, 10.0, 0.99]
    assert frame["when"].iloc[1] == pd.Timestamp("2023-02-06 10:00")
    assert frame["ok"].tolist() == [True, False, True]


def test_an_ambiguous_column_of_an_upload_says_which_convention_was_chosen(db):
    rows = [("amb", "other"), ("1.234", "1,5"), ("2.500", "2,5"), ("3.000", "7")]
    dataset = _store(_csv(rows, ";"))
    amb = _types(dataset)["amb"]
    assert amb.ambiguous and amb.convention == "comma"
    assert datasets.read_frame(dataset)["amb"].tolist() == [1234, 2500, 3000]


def test_the_uploader_s_language_decides_when_the_file_does_not(db):
    rows = [("amb",), ("1.234",), ("2.500",)]
    pt = _store(_csv(rows, ","), filename="pt.csv", language="pt-br")
    assert _types(pt)["amb"].convention == "comma"


def _book(sheets: dict[str, list[list]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


EXCEL_SHEETS = {
    "Capa": [],
    "Vendas": [
        ["Relatório de vendas, fevereiro de 2023"],
        [],
        ["valor", "quando", "texto_num", "ativo"],
        [1234.56, dt.datetime(2023, 2, 5), "1.234,5", "Sim"],
        [10, dt.datetime(2023, 2, 13, 14, 30), "2,5", "Não"],
        [0.99, dt.datetime(2023, 3, 1), "7", "S"],
    ],
    "Outra": [["a", "b"], [1, 2], [3, 4]],
}


def test_an_excel_workbook_takes_its_first_sheet_with_cells_below_its_title(db):
    dataset = _store(_book(EXCEL_SHEETS), filename="vendas.xlsx")
    assert dataset.read_options["sheet"] == "Vendas"
    assert dataset.read_options["header_row"] == 3
    assert dataset.read_options["sheets"] == ["Capa", "Vendas", "Outra"]
    types = _types(dataset)
    assert types["valor"].native and types["valor"].type == "number"
    assert types["quando"].type == "date"
    assert types["texto_num"].convention == "comma"
    frame = datasets.read_frame(dataset)
    assert frame.columns.tolist() == ["valor", "quando", "texto_num", "ativo"]
    assert frame["valor"].tolist() == [1234.56, 10.0, 0.99]
    assert frame["quando"].iloc[1] == pd.Timestamp("2023-02-13 14:30")
    assert frame["texto_num"].tolist() == [1234.5, 2.5, 7.0]
    assert frame["ativo"].tolist() == [True, False, True]


def test_another_sheet_and_header_row_can_be_chosen(db):
    dataset = _store(_book(EXCEL_SHEETS), filename="vendas.xlsx")
    datasets.retype(dataset, sheet="Outra", header_row=1)
    dataset.refresh_from_db()
    assert dataset.columns == ["a", "b"] and dataset.rows == 2
    assert datasets.read_frame(dataset)["b"].tolist() == [2, 4]


@pytest.mark.parametrize(
    "sheet, header_row, message",
    [
        ("Nada", 1, r"vendas\.xlsx has no sheet named 'Nada'; its sheets are: Capa"),
        ("Capa", 1, r"vendas\.xlsx: the sheet 'Capa' is empty"),
        ("Outra", 9, r"sheet 'Outra': the header cannot be on row 9; .* last row is 3"),
    ],
)
def test_a_bad_sheet_or_header_row_is_refused_and_nothing_changes(
    db, sheet, header_row, message
):
    dataset = _store(_book(EXCEL_SHEETS), filename="vendas.xlsx")
    dataset.name = "vendas.xlsx"
    dataset.save()
    before = (dataset.read_options, dataset.column_types, dataset.profile)
    with pytest.raises(DatasetError, match=message):
        datasets.retype(dataset, sheet=sheet, header_row=header_row)
    dataset.refresh_from_db()
    assert (dataset.read_options, dataset.column_types, dataset.profile) == before


def test_a_workbook_of_empty_sheets_is_refused(db):
    with pytest.raises(DatasetError, match=r"empty\.xlsx: every sheet is empty"):
        _store(_book({"A": [], "B": []}), filename="empty.xlsx")
    assert not Dataset.objects.exists()


def test_parquet_keeps_its_types(db):
    table = pa.table(
        {
            "n": [1.5, 2.5, 3.5],
            "d": pa.array([dt.date(2023, 2, 5)] * 3, pa.date32()),
            "t": ["1.234", "2.500", "3.000"],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    dataset = _store(buffer.getvalue(), filename="typed.parquet")
    types = _types(dataset)
    assert types["n"].native and types["n"].rule == "typed cells of the file"
    frame = datasets.read_frame(dataset)
    assert frame["n"].tolist() == [1.5, 2.5, 3.5]


def test_a_correction_is_applied_when_the_dataset_is_read(db):
    rows = [("amb", "other"), ("1.234", "1,5"), ("2.500", "2,5"), ("3.000", "7")]
    dataset = _store(_csv(rows, ";"))
    datasets.retype(
        dataset,
        corrections={
            "amb": {"type": "number", "convention": "point"},
            "other": {"type": "ignore"},
        },
    )
    dataset.refresh_from_db()
    frame = datasets.read_frame(dataset)
    assert frame.columns.tolist() == ["amb"]
    assert frame["amb"].tolist() == [1.234, 2.5, 3.0]
    assert dataset.columns == ["amb"]
    assert _types(dataset)["amb"].by == "user"
    # A later correction keeps the earlier ones.
    datasets.retype(dataset, corrections={})
    dataset.refresh_from_db()
    assert _types(dataset)["other"].type == "ignore"


def test_large_files_are_read_in_chunks_with_their_types(db, monkeypatch):
    monkeypatch.setattr(datasets, "CHUNK_ROWS", 7)
    rows = [("v", "d")] + [
        (f"{i}.000,5", f"{i % 28 + 1:02d}/02/2023") for i in range(30)
    ]
    dataset = _store(_csv(rows, ";"))
    frame = datasets.read_frame(dataset)
    assert len(frame) == 30 and frame.index.tolist() == list(range(30))
    assert frame["v"].iloc[29] == 29000.5
    assert frame["d"].iloc[20] == pd.Timestamp("2023-02-21")


def test_label_statistics_use_the_types(db, monkeypatch):
    monkeypatch.setattr(datasets, "PROFILE_ROWS", 5)
    rows = [("y", "x")] + [(f"{i},5", str(i)) for i in range(20)]
    dataset = _store(_csv(rows, ";"))
    _sample, stats = datasets.read_for_checks(dataset, "y")
    assert stats.numeric and stats.present == 20


# --- The vectorised reading and the per-value rules agree -------------------

MIXED_NUMBERS = ["1.234,56", "R$ 2,5", "12,5%", "x", "NA", "-3", "1.234.567,8", " 7 "]
MIXED_DATES = ["05/02/2023", "2023-02-05T10:00", "13/02/2023 14:30", "31/31/2023", "-"]


@pytest.mark.parametrize(
    "values, column_type",
    [
        (MIXED_NUMBERS, parsing.ColumnType("v", "number", "comma")),
        (MIXED_NUMBERS, parsing.ColumnType("v", "number", "point")),
        (MIXED_DATES, parsing.ColumnType("v", "date", "day_first")),
        (MIXED_DATES, parsing.ColumnType("v", "date", "month_first")),
        (["Sim", "não", "S", "n", "talvez", ""], parsing.ColumnType("v", "boolean")),
    ],
)
def test_the_vectorised_reading_agrees_with_the_per_value_rules(values, column_type):
    fast = parsing.convert(pd.Series(values, dtype=object), column_type)
    # One typed cell (as Excel gives) sends the column down the per-value path.
    slow = parsing.convert(pd.Series([*values, None], dtype=object), column_type)
    assert pd.Series(fast.tolist()).equals(pd.Series(slow.tolist()[:-1])), (
        fast.tolist(),
        slow.tolist(),
    )


def test_to_booleans_takes_every_spelling_and_zero_one():
    column = pd.Series(["Sim", "N", "true", 1, 0, False, "talvez"], dtype=object)
    assert parsing.to_booleans(column).tolist()[:6] == [
        True,
        False,
        True,
        True,
        False,
        False,
    ]
    assert pd.isna(parsing.to_booleans(column).iloc[6])


@pytest.mark.slow
def test_a_boolean_feature_takes_a_source_s_spellings(db):
    from registry import services
    from registry.errors import SchemaError
    from registry.tests.helpers import train_tiny

    rows = [("ativo", "x", "y")] + [
        ("Sim" if i % 3 else "Não", f"{i},5", "a" if i % 3 else "b") for i in range(60)
    ]
    frame = datasets.read_frame(_store(_csv(rows, ";")))
    assert frame["ativo"].dtype == bool
    version = train_tiny(frame, "y", "ativos", reuse=False)
    assert version.features.get("ativo").kind == "boolean"
    given = pd.DataFrame({"ativo": ["S", "não", 1], "x": [1.5, 2.5, 3.5]})
    assert services.predict_batch(version, given).rows == 3
    with pytest.raises(SchemaError, match="ativo: expected true or false"):
        services.predict_batch(version, given.assign(ativo=["talvez", "S", "N"]))


def test_a_file_read_for_a_check_keeps_its_misfits_as_text(tmp_path):
    path = tmp_path / "check.csv"
    rows = [("v", "d")] + [(f"{i},5", "05/02/2023") for i in range(20)]
    rows[5] = ("alto", "05/02/2023")
    path.write_bytes(_csv(rows, ";"))
    [frame] = list(datasets.read_chunks(path))
    assert frame["v"].iloc[0] == 0.5 and frame["v"].iloc[4] == "alto"
    assert frame["d"].iloc[0] == pd.Timestamp("2023-02-05")
