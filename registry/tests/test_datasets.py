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
