"""Uploads: CSV dialects, Parquet, Excel, content hashing, limits, refusals."""

import io

import pandas as pd
import pytest

from mlframework.events.models import Event
from registry import datasets
from registry.errors import DatasetError
from registry.models import Dataset

pytestmark = pytest.mark.django_db(databases=["default", "events"])

ROWS = [
    ("Adelie", "Torgersen", 39.1, "male"),
    ("Gentoo", "Biscoe", 46.5, "female"),
    ("Chinstrap", "Dream", 49.3, None),
]


def _store(data: bytes, filename="penguins.csv", **kwargs):
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
    return datasets.store_upload(chunks, filename=filename, **kwargs)


def _csv(sep=",", decimal=".", encoding="utf-8", bom=False, header="species"):
    lines = [sep.join([header, "ilha", "bico_mm", "sexo"])]
    for species, island, bill, sex in ROWS:
        number = str(bill).replace(".", decimal)
        lines.append(sep.join([species, island, number, sex or ""]))
    text = "\r\n".join(lines) + "\r\n"
    data = text.encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def _frame(dataset):
    return datasets.read_frame(dataset)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_csv(), {"delimiter": ",", "decimal": ".", "encoding": "utf-8"}),
        (_csv(bom=True), {"delimiter": ",", "decimal": ".", "encoding": "utf-8-sig"}),
        (
            _csv(sep=";", decimal=","),
            {"delimiter": ";", "decimal": ",", "encoding": "utf-8"},
        ),
        (
            _csv(sep=";", decimal=",", encoding="latin-1", header="espécie"),
            {"delimiter": ";", "decimal": ",", "encoding": "latin-1"},
        ),
        (
            _csv(sep=";", decimal=",", bom=True, header="espécie"),
            {"delimiter": ";", "decimal": ",", "encoding": "utf-8-sig"},
        ),
        (_csv(sep="\t"), {"delimiter": "\t", "decimal": ".", "encoding": "utf-8"}),
    ],
    ids=["comma", "bom", "semicolon-decimal-comma", "latin1", "bom-semicolon", "tab"],
)
def test_it_reads_the_csv_dialects_spreadsheets_write(data, expected):
    dataset, created = _store(data)
    assert created
    assert dataset.read_options == expected
    assert dataset.format == "csv"
    frame = _frame(dataset)
    assert frame.columns[0] in ("species", "espécie")
    assert frame.columns[1:].tolist() == ["ilha", "bico_mm", "sexo"]
    assert frame["bico_mm"].tolist() == [39.1, 46.5, 49.3]
    assert frame["bico_mm"].dtype == "float64"
    assert frame["sexo"].isna().tolist() == [False, False, True]
    assert dataset.rows == 3
    profile = {c["name"]: c for c in dataset.profile["columns"]}
    assert profile["bico_mm"]["kind"] == "numeric"
    assert profile["sexo"]["missing"] == 1
    assert sorted(profile["ilha"]["histogram"]["labels"]) == [
        "Biscoe",
        "Dream",
        "Torgersen",
    ]
    assert datasets.path_of(dataset).read_bytes() == data


def test_the_same_file_twice_is_one_dataset(analyst):
    first, created = _store(_csv(), user=analyst)
    again, created_again = _store(_csv(), filename="other-name.csv")
    assert created and not created_again
    assert first.pk == again.pk and Dataset.objects.count() == 1
    assert len(list(datasets.root().glob("*.csv"))) == 1
    assert not list(datasets.root().glob(".upload-*"))
    assert Event.objects.using("events").filter(kind="dataset.uploaded").count() == 1


def test_it_hashes_the_content(penguins_frame):
    import hashlib

    data = _csv()
    dataset, _ = _store(data)
    assert dataset.sha256 == hashlib.sha256(data).hexdigest()
    assert datasets.path_of(dataset).name == f"{dataset.sha256}.csv"


def test_it_reads_parquet(penguins_frame):
    buffer = io.BytesIO()
    penguins_frame.to_parquet(buffer)
    dataset, _ = _store(buffer.getvalue(), filename="penguins.parquet")
    assert dataset.format == "parquet"
    assert dataset.rows == 344
    frame = _frame(dataset)
    assert frame["species"].value_counts()["Adelie"] == 152
    assert frame["body_mass_g"].isna().sum() == 2


def test_it_reads_excel(penguins_frame):
    buffer = io.BytesIO()
    penguins_frame.head(50).to_excel(buffer, index=False)
    dataset, _ = _store(buffer.getvalue(), filename="penguins.xlsx")
    assert dataset.format == "excel"
    assert dataset.rows == 50
    assert _frame(dataset).columns.tolist() == penguins_frame.columns.tolist()


def test_the_profile_is_bounded_but_rows_are_counted(settings, monkeypatch):
    monkeypatch.setattr(datasets, "PROFILE_ROWS", 100)
    monkeypatch.setattr(datasets, "CHUNK_ROWS", 64)
    lines = ["a,b"] + [f"{i},{i % 7}" for i in range(1000)]
    dataset, _ = _store(("\n".join(lines) + "\n").encode())
    assert dataset.rows == 1000
    assert dataset.profile["profiled_rows"] == 100


def test_it_refuses_a_file_over_the_limit(settings):
    from dataclasses import replace

    settings.CONFIG = replace(
        settings.CONFIG, training=replace(settings.CONFIG.training, max_upload_mb=1)
    )
    data = b"a,b\n" + b"1,2\n" * 300_000
    with pytest.raises(DatasetError, match="larger than the 1 MB upload limit"):
        datasets.store_upload([data[:600_000], data[600_000:]], filename="big.csv")
    assert not Dataset.objects.exists()
    assert not list(datasets.root().iterdir())


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "empty.csv", "empty.csv is empty"),
        (b"a,b,a\n1,2,3\n", "dup.csv", "duplicate column names: a"),
        (b"a,,c\n1,2,3\n", "noname.csv", "column 2 has no name"),
        (b"a,b\n", "header.csv", "has a header but no rows"),
        (b'a,b\n1,"2\n', "broken.csv", "could not be read"),
        (b"PK\x03\x04junk", "data.zip", "is a zip archive"),
        (b"PK\x03\x04junk", "data.xlsx", "data.xlsx could not be read"),
        (b"PAR1junk", "data.parquet", "data.parquet could not be read"),
        (b"\xd0\xcf\x11\xe0old", "data.xls", "old Excel"),
        (b"a,b\n1,2\n", "data.parquet", "does not look like the .parquet file"),
        (b"\n\n", "blank.csv", "has no header line"),
    ],
)
def test_it_refuses_unreadable_files_and_keeps_nothing(data, filename, message):
    with pytest.raises(DatasetError, match=message):
        _store(data, filename=filename)
    assert not Dataset.objects.exists()
    assert not list(datasets.root().iterdir())


def test_reading_a_missing_file_says_so():
    dataset, _ = _store(_csv())
    datasets.path_of(dataset).unlink()
    with pytest.raises(DatasetError, match="missing from the server"):
        datasets.read_frame(dataset)


def test_a_missing_file_is_restored_by_uploading_it_again():
    dataset, _ = _store(_csv())
    datasets.path_of(dataset).unlink()
    again, created = _store(_csv())
    assert again.pk == dataset.pk and created is False
    assert datasets.path_of(again).exists()


def test_store_file_reads_from_disk(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(_csv())
    dataset, created = datasets.store_file(path, name="demo")
    assert created and dataset.name == "demo"
    assert isinstance(_frame(dataset), pd.DataFrame)


def test_it_reads_a_pipe_delimited_file():
    dataset, _ = _store(_csv(sep="|"))
    assert dataset.read_options["delimiter"] == "|"
    assert _frame(dataset)["bico_mm"].tolist() == [39.1, 46.5, 49.3]


def test_a_comma_file_keeps_the_decimal_point_even_with_quoted_commas():
    data = b'name,amount\n"1,5",2.5\n"2,5",3.5\n'
    dataset, _ = _store(data)
    assert dataset.read_options == {
        "delimiter": ",",
        "decimal": ".",
        "encoding": "utf-8",
    }
    frame = _frame(dataset)
    # A quoted "1,5" fits only the decimal comma (registry.parsing): a number.
    assert frame["name"].tolist() == [1.5, 2.5]
    assert frame["amount"].tolist() == [2.5, 3.5]


def test_a_semicolon_file_with_whole_numbers_keeps_the_decimal_point():
    dataset, _ = _store(b"a;b\n1;2\n3;4.5\n")
    assert dataset.read_options["decimal"] == "."
    assert _frame(dataset)["b"].tolist() == [2.0, 4.5]


def test_latin1_text_is_read_back_as_written():
    data = "ville;prix\nMontréal;1,5\nZürich;2,25\n".encode("latin-1")
    dataset, _ = _store(data)
    assert dataset.read_options["encoding"] == "latin-1"
    frame = _frame(dataset)
    assert frame["ville"].tolist() == ["Montréal", "Zürich"]
    assert frame["prix"].tolist() == [1.5, 2.25]


def test_a_bom_is_not_part_of_the_first_column_name():
    dataset, _ = _store(_csv(bom=True))
    assert dataset.columns[0] == "species"
    assert _frame(dataset).columns[0] == "species"


def test_the_dataset_is_named_after_the_file_unless_named():
    unnamed, _ = _store(_csv(), filename="my penguins.csv")
    assert unnamed.name == "my penguins"
    named, _ = _store(_csv(sep=";"), filename="x.csv", name="Penguins 2024")
    assert named.name == "Penguins 2024"
    assert named.size_bytes == len(_csv(sep=";"))
    assert named.columns == ["species", "ilha", "bico_mm", "sexo"]


def test_the_same_content_under_two_formats_is_two_datasets(penguins_frame):
    buffer = io.BytesIO()
    penguins_frame.to_parquet(buffer)
    parquet, _ = _store(buffer.getvalue(), filename="p.parquet")
    csv_dataset, _ = _store(_csv())
    assert parquet.pk != csv_dataset.pk and Dataset.objects.count() == 2
    assert datasets.path_of(parquet).suffix == ".parquet"


def test_it_refuses_duplicate_column_names_in_parquet():
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4])], ["a", "a"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    with pytest.raises(
        DatasetError, match=r"dup\.parquet has duplicate column names: a"
    ):
        _store(buffer.getvalue(), filename="dup.parquet")
    assert not Dataset.objects.exists()


def _workbook(header, row=(1, 2, 3)):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(list(header))
    book.active.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_it_refuses_duplicate_column_names_in_excel():
    with pytest.raises(DatasetError, match=r"dup\.xlsx has duplicate column names: b"):
        _store(_workbook(["b", "c", "b"]), filename="dup.xlsx")
    assert not Dataset.objects.exists()


def test_it_refuses_an_empty_column_name_in_excel():
    with pytest.raises(DatasetError, match=r"gap\.xlsx: column 2 has no name"):
        _store(_workbook(["a", None, "c"]), filename="gap.xlsx")
    assert not Dataset.objects.exists()


def test_names_that_differ_only_by_spaces_are_duplicates():
    with pytest.raises(DatasetError, match="duplicate column names: a"):
        _store(b"a, a \n1,2\n", filename="spaces.csv")


def test_several_duplicates_are_each_named_once():
    with pytest.raises(DatasetError, match=r"duplicate column names: a, b\. Rename"):
        _store(b"a,b,a,b,a\n1,2,3,4,5\n", filename="dups.csv")


def test_a_parquet_file_without_rows_is_refused():
    buffer = io.BytesIO()
    pd.DataFrame({"a": pd.Series([], dtype="int64")}).to_parquet(buffer)
    with pytest.raises(DatasetError, match="has a header but no rows"):
        _store(buffer.getvalue(), filename="empty.parquet")


def test_check_request_size_allows_the_envelope_and_refuses_more(settings):
    limit = datasets.max_bytes()
    datasets.check_request_size(limit + 1024)
    with pytest.raises(DatasetError, match=r"upload limit \(training.max_upload_mb\)"):
        datasets.check_request_size(limit + 65 * 1024)


def test_read_for_checks_streams_the_label_of_a_large_file(monkeypatch):
    monkeypatch.setattr(datasets, "PROFILE_ROWS", 50)
    monkeypatch.setattr(datasets, "CHUNK_ROWS", 64)
    lines = ["x,label"] + [f"{i},{'ab'[i % 2] if i % 10 else ''}" for i in range(500)]
    dataset, _ = _store(("\n".join(lines) + "\n").encode())
    sample, stats = datasets.read_for_checks(dataset, "label")
    assert len(sample) == 50
    assert stats.present == 450 and stats.missing == 50
    assert stats.counts == {"a": 200, "b": 250}
    # A label not in the file: the sample only, for the caller to refuse.
    assert datasets.read_for_checks(dataset, "colour")[1] is None


def test_read_for_checks_reads_a_small_file_whole():
    dataset, _ = _store(_csv())
    frame, stats = datasets.read_for_checks(dataset, "species")
    assert stats is None and len(frame) == 3


def test_read_for_checks_of_a_large_parquet_streams_its_label(monkeypatch):
    monkeypatch.setattr(datasets, "PROFILE_ROWS", 20)
    monkeypatch.setattr(datasets, "CHUNK_ROWS", 32)
    buffer = io.BytesIO()
    pd.DataFrame({"x": range(100), "y": [i % 3 for i in range(100)]}).to_parquet(buffer)
    dataset, _ = _store(buffer.getvalue(), filename="big.parquet")
    assert dataset.rows == 100
    sample, stats = datasets.read_for_checks(dataset, "y")
    assert len(sample) == 20
    assert stats.counts == {0: 34, 1: 33, 2: 33} and stats.numeric


def test_a_dataset_whose_file_became_unreadable_says_so():
    dataset, _ = _store(_csv())
    datasets.path_of(dataset).write_bytes(b'a,b\n1,"2\n')
    with pytest.raises(DatasetError, match=f"Dataset {dataset.name} could not be read"):
        datasets.read_frame(dataset)


@pytest.mark.parametrize(
    ("head", "filename", "expected"),
    [
        (b"PAR1\x15\x04", "rows.bin", "parquet"),
        (b"PK\x03\x04rest", "book.xlsx", "excel"),
        (b"PK\x03\x04rest", "book.XLSM", "excel"),
        (b"PK\x03\x04rest", "book", "excel"),
        (b"a,b\n1,2\n", "rows.txt", "csv"),
        (b"a,b\n1,2\n", "rows", "csv"),
    ],
)
def test_detect_format_reads_the_first_bytes(tmp_path, head, filename, expected):
    path = tmp_path / "upload"
    path.write_bytes(head)
    assert datasets.detect_format(path, filename) == expected


def test_sniff_reads_the_dialect_from_the_start_of_a_file(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "SNIFF_BYTES", 64)
    # A 64-byte sample of a 166-byte file, ending inside a row.
    path = tmp_path / "rows.csv"
    path.write_bytes(b"a;b;c\n" + b"1,5;2;3\n" * 20)
    assert datasets.sniff(path) == {
        "delimiter": ";",
        "decimal": ",",
        "encoding": "utf-8",
    }


def test_sniff_keeps_utf8_when_the_sample_cuts_a_character(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "SNIFF_BYTES", 10)
    path = tmp_path / "rows.csv"
    path.write_bytes("name\nabcdé\nx\n".encode())  # é spans bytes 10 and 11
    assert datasets.sniff(path)["encoding"] == "utf-8"


def test_sniff_of_a_one_column_file_is_comma(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes(b"value\n1\n2\n")
    assert datasets.sniff(path)["delimiter"] == ","


# --- read_chunks and spooled (on-demand drift checks) -------------------------


def test_read_chunks_streams_frames_up_to_nrows(tmp_path):
    path = tmp_path / "big.csv"
    pd.DataFrame({"a": range(2500), "b": ["x"] * 2500}).to_csv(path, index=False)
    sizes = [len(frame) for frame in datasets.read_chunks(path, rows=1000)]
    assert sizes == [1000, 1000, 500]
    limited = datasets.read_chunks(path, rows=1000, nrows=1200)
    assert [len(frame) for frame in limited] == [1000, 200]
    parquet = tmp_path / "big.parquet"
    pd.read_csv(path).to_parquet(parquet, index=False)
    frames = list(datasets.read_chunks(parquet, rows=1000, nrows=1500))
    assert [len(frame) for frame in frames] == [1000, 500]
    assert frames[1]["a"].tolist() == list(range(1000, 1500))


def test_read_chunks_gives_a_header_only_file_as_one_empty_frame(tmp_path):
    for name, write in [
        ("bare.csv", lambda f, p: f.to_csv(p, index=False)),
        ("bare.parquet", lambda f, p: f.to_parquet(p, index=False)),
        ("bare.xlsx", lambda f, p: f.to_excel(p, index=False)),
    ]:
        path = tmp_path / name
        write(pd.DataFrame({"a": pd.Series([], dtype="int64"), "b": []}), path)
        frames = list(datasets.read_chunks(path))
        assert len(frames) == 1 and len(frames[0]) == 0, name
        assert list(frames[0].columns) == ["a", "b"], name


def test_read_chunks_names_the_file_and_the_problem(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n" + "3,4\n" * 10 + "5,6,7,8\n")
    with pytest.raises(DatasetError, match=r"^mine.csv could not be read: "):
        list(datasets.read_chunks(path, "mine.csv", rows=2))
    nameless = tmp_path / "nameless.csv"
    nameless.write_text("a,\n1,2\n")
    with pytest.raises(DatasetError, match=r"nameless.csv: column 2 has no name"):
        list(datasets.read_chunks(nameless))


def test_spooled_removes_the_upload_after_the_block():
    before = sorted(datasets.root().iterdir())
    with datasets.spooled([b"a,b\n", b"1,2\n"], "x.csv") as path:
        assert path.read_bytes() == b"a,b\n1,2\n"
    assert not path.exists()
    assert sorted(datasets.root().iterdir()) == before
    with (
        pytest.raises(DatasetError, match=r"^x.csv is empty.$"),
        datasets.spooled([b""], "x.csv"),
    ):
        pass
