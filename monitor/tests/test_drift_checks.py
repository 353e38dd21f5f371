"""monitor.drift.checks: a file or a read-only query against a version's
reference, the same report as a run's, nothing written; bad input named."""

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conftest import ODBC_DATASOURCES, require_datasource
from monitor.drift import checks
from monitor.drift.accumulator import DriftAccumulator
from monitor.drift.checks import CheckError
from monitor.models import ModelMonitoring, RunDrift
from registry import drift_reference
from registry import services as registry
from registry.drift_reference import Reference

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def inputs(penguins_frame):
    """The penguins as a dispatch source has them: no label."""
    return penguins_frame.drop(columns=["species"])


def shifted(frame):
    out = frame.copy()
    out["bill_length_mm"] = out["bill_length_mm"] * 1.6
    out["flipper_length_mm"] = out["flipper_length_mm"] + 40
    out["body_mass_g"] = out["body_mass_g"] * 1.7
    out["island"] = "Biscoe"
    return out


def csv_file(tmp_path, frame, name="rows.csv", **kwargs):
    path = tmp_path / name
    frame.to_csv(path, index=False, **kwargs)
    return path


def expected_report(version, frame, chunk=checks.BATCH_ROWS):
    """What the run's path gives: predict_batch with the accumulator's hook."""
    accumulator = DriftAccumulator.for_version(version)
    for start in range(0, len(frame), chunk):
        registry.predict_batch(
            version, frame.iloc[start : start + chunk], hooks=[accumulator.hook]
        )
    return accumulator.report()


# --- Files ------------------------------------------------------------------


def test_a_file_gives_the_report_a_run_would_give(tiny_classifier, inputs, tmp_path):
    report = checks.check_file(tiny_classifier, csv_file(tmp_path, inputs))
    assert report.rows == 344 and report.state == ""
    assert not report.dataset_drift and report.drift_share == 0.0
    assert report.prediction is not None and report.prediction.checked
    assert not report.prediction_drift
    assert [f.name for f in report.features] == [
        f.name for f in expected_report(tiny_classifier, inputs).features
    ]
    assert report.to_json() == expected_report(tiny_classifier, inputs).to_json()
    assert RunDrift.objects.count() == 0


def test_a_shifted_file_drifts_and_its_predictions_too(
    tiny_classifier, inputs, tmp_path
):
    report = checks.check_file(tiny_classifier, csv_file(tmp_path, shifted(inputs)))
    assert report.dataset_drift
    assert {"bill_length_mm", "flipper_length_mm", "body_mass_g", "island"} <= set(
        report.drifted
    )
    assert report.prediction_drift  # the species predicted change with them
    assert report.get("island").bins["current"]  # counts for the pages


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["parquet", "xlsx", "semicolon"])
def test_parquet_excel_and_spreadsheet_csv_read_the_same(
    kind, tiny_classifier, inputs, tmp_path
):
    frame = inputs.head(120)
    if kind == "parquet":
        path = tmp_path / "rows.parquet"
        frame.to_parquet(path, index=False)
    elif kind == "xlsx":
        path = tmp_path / "rows.xlsx"
        frame.to_excel(path, index=False)
    else:  # semicolons and decimal commas, as a European spreadsheet writes
        path = csv_file(tmp_path, frame, sep=";", decimal=",")
    report = checks.check_file(tiny_classifier, path)
    plain = checks.check_file(tiny_classifier, csv_file(tmp_path, frame, "plain.csv"))
    assert report.rows == 120
    assert report.to_json() == plain.to_json()


def test_a_file_is_read_in_batches(tiny_classifier, inputs, tmp_path, monkeypatch):
    monkeypatch.setattr(checks, "BATCH_ROWS", 50)
    seen = []
    original = registry.predict_batch

    def spy(version, batch, **kwargs):
        seen.append(len(batch))
        return original(version, batch, **kwargs)

    monkeypatch.setattr(checks.registry, "predict_batch", spy)
    report = checks.check_file(tiny_classifier, csv_file(tmp_path, inputs))
    assert seen == [50] * 6 + [44]
    assert report.rows == 344
    # Chunked exactly as a whole: the accumulator adds up.
    assert report.to_json() == expected_report(tiny_classifier, inputs).to_json()


def test_an_upload_is_checked_and_not_kept(tiny_classifier, inputs, settings):
    from registry import datasets

    upload = SimpleUploadedFile(
        "mine.csv", inputs.to_csv(index=False).encode(), "text/csv"
    )
    before = sorted(p.name for p in datasets.root().iterdir())
    report = checks.check_file(tiny_classifier, upload)
    assert report.rows == 344
    assert sorted(p.name for p in datasets.root().iterdir()) == before
    from registry.models import Dataset

    assert not Dataset.objects.exists()


def test_a_file_lacking_model_columns_is_refused_by_name(
    tiny_classifier, inputs, tmp_path
):
    path = csv_file(tmp_path, inputs.drop(columns=["bill_depth_mm", "sex"]))
    with pytest.raises(CheckError) as refused:
        checks.check_file(tiny_classifier, path)
    assert refused.value.field == "file"
    assert str(refused.value) == (
        "rows.csv: penguins v1 needs column(s) missing from the input: "
        "bill_depth_mm, sex."
    )


def test_a_bad_value_is_named_by_its_row_and_column(
    tiny_classifier, inputs, tmp_path, monkeypatch
):
    monkeypatch.setattr(checks, "BATCH_ROWS", 100)
    frame = inputs.astype({"flipper_length_mm": object})
    frame.loc[frame.index[250], "flipper_length_mm"] = "tall"
    with pytest.raises(CheckError) as refused:
        checks.check_file(tiny_classifier, csv_file(tmp_path, frame))
    # Row 251 of the file (in its third batch), the header not counted.
    assert str(refused.value) == (
        "rows.csv, row 251, column flipper_length_mm: 'tall' is not a number."
    )
    assert refused.value.field == "file"


def test_an_unreadable_file_is_refused_with_why(tiny_classifier, tmp_path):
    zipped = tmp_path / "rows.zip"
    zipped.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(CheckError, match=r"rows.zip is a zip archive"):
        checks.check_file(tiny_classifier, zipped)
    broken = tmp_path / "rows.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(CheckError, match=r"^rows.parquet could not be read: "):
        checks.check_file(tiny_classifier, broken)
    duplicated = tmp_path / "twice.csv"
    duplicated.write_text("island,island\nBiscoe,Dream\n")
    with pytest.raises(CheckError, match=r"twice.csv has duplicate column names"):
        checks.check_file(tiny_classifier, duplicated)
    with pytest.raises(CheckError, match=r"nothing.csv: there is no such file"):
        checks.check_file(tiny_classifier, tmp_path / "nothing.csv")


def test_an_empty_upload_is_refused(tiny_classifier):
    upload = SimpleUploadedFile("empty.csv", b"", "text/csv")
    with pytest.raises(CheckError, match=r"^empty.csv is empty.$"):
        checks.check_file(tiny_classifier, upload)


def test_a_file_with_a_header_and_no_rows_is_a_no_rows_report(
    tiny_classifier, inputs, tmp_path
):
    report = checks.check_file(tiny_classifier, csv_file(tmp_path, inputs.head(0)))
    assert report.rows == 0 and report.state == "no rows"
    assert not report.dataset_drift and not report.prediction_drift
    # Its columns are still checked.
    path = csv_file(tmp_path, inputs.drop(columns=["island"]).head(0), "bare.csv")
    with pytest.raises(CheckError, match=r"missing from the input: island"):
        checks.check_file(tiny_classifier, path)


def test_a_file_beyond_the_row_limit_is_refused(tiny_classifier, inputs, tmp_path):
    path = csv_file(tmp_path, inputs)
    assert checks.check_file(tiny_classifier, path, limit=344).rows == 344
    with pytest.raises(CheckError) as refused:
        checks.check_file(tiny_classifier, path, limit=343)
    assert str(refused.value) == (
        "rows.csv has more than 343 rows, the most a drift check reads "
        "(monitor.check_max_rows); check a part of it."
    )


def test_the_row_limit_comes_from_config(settings, use_config, inputs, tmp_path):
    import dataclasses

    use_config(monitor=dataclasses.replace(settings.CONFIG.monitor, check_max_rows=7))
    assert checks.max_rows() == 7


def test_a_version_without_a_reference_gives_a_report_saying_so(
    tiny_classifier, inputs, tmp_path
):
    tiny_classifier.drift_reference.delete()
    report = checks.check_file(tiny_classifier, csv_file(tmp_path, inputs))
    assert report.state.startswith("no reference: not built yet")
    assert report.features == () and not report.dataset_drift
    drift_reference.save(tiny_classifier, Reference.unavailable("dataset deleted"))
    report = checks.check_file(tiny_classifier, csv_file(tmp_path, inputs))
    assert report.state == "no reference: dataset deleted"


def test_a_broken_reference_is_a_state_not_an_error(tiny_classifier, inputs, tmp_path):
    from registry.models import DriftReference

    DriftReference.objects.filter(version=tiny_classifier).update(
        data={"features": [{"kind": "numeric"}]}  # no name: unreadable
    )
    report = checks.check_file(tiny_classifier, csv_file(tmp_path, inputs))
    assert report.state == "no reference: KeyError: 'name'"
    assert report.rows == 0 and report.features == ()


def test_the_models_settings_apply(tiny_classifier, inputs, tmp_path):
    ModelMonitoring.objects.create(
        model=tiny_classifier.model,
        drift_settings={"ignored": ["island"], "thresholds": {"year": 0.9}},
    )
    report = checks.check_file(tiny_classifier, csv_file(tmp_path, inputs))
    assert report.get("island") is None
    assert report.get("year").threshold == 0.9


def test_a_version_that_cannot_predict_is_refused(tiny_classifier, inputs, tmp_path):
    tiny_classifier.status = tiny_classifier.Status.ARCHIVED
    tiny_classifier.save(update_fields=["status"])
    with pytest.raises(CheckError, match=r"only ready versions predict") as refused:
        checks.check_file(tiny_classifier, csv_file(tmp_path, inputs))
    assert refused.value.field is None


# --- Queries ----------------------------------------------------------------


@pytest.fixture
def table(drift_table):
    return drift_table


@pytest.mark.slow
@pytest.mark.parametrize("datasource", ODBC_DATASOURCES)
def test_a_query_gives_the_report_a_run_would_give(
    datasource, tiny_classifier, inputs, table
):
    name = table(datasource, inputs)
    report = checks.check_query(tiny_classifier, datasource, f"SELECT * FROM {name}")
    assert report.rows == 344 and report.state == ""
    assert not report.dataset_drift and not report.prediction_drift
    expected = expected_report(tiny_classifier, inputs)
    assert [f.name for f in report.features] == [f.name for f in expected.features]
    for ours, theirs in zip(report.features, expected.features, strict=True):
        assert ours.drifted == theirs.drifted and ours.method == theirs.method
        assert ours.score == pytest.approx(theirs.score, rel=1e-9, abs=1e-12)
    shifted_name = table(datasource, shifted(inputs))
    found = checks.check_query(
        tiny_classifier, datasource, f"SELECT * FROM {shifted_name}"
    )
    assert found.dataset_drift and found.prediction_drift
    assert RunDrift.objects.count() == 0


def test_a_query_that_writes_is_refused_with_the_read_only_message(tiny_classifier):
    require_datasource("demo")
    with pytest.raises(CheckError) as refused:
        checks.check_query(tiny_classifier, "demo", "DELETE FROM penguins")
    assert refused.value.field == "sql"
    assert str(refused.value).startswith("The query is refused: demo: ")
    assert "DELETE" in str(refused.value)
    with pytest.raises(CheckError, match=r"The query is refused: demo: "):
        checks.check_query(tiny_classifier, "demo", "SELECT 1; DROP TABLE penguins")


def test_an_unknown_datasource_is_refused_naming_the_known(tiny_classifier):
    with pytest.raises(CheckError) as refused:
        checks.check_query(tiny_classifier, "sales", "SELECT 1")
    assert refused.value.field == "datasource"
    assert str(refused.value).startswith(
        "There is no datasource 'sales' in config.yaml (known: demo"
    )


def test_a_query_lacking_model_columns_is_refused_by_name(
    tiny_classifier, inputs, table
):
    name = table("demo", inputs)
    with pytest.raises(CheckError) as refused:
        checks.check_query(
            tiny_classifier, "demo", f"SELECT island, sex, year FROM {name}"
        )
    assert refused.value.field == "sql"
    assert str(refused.value) == (
        "The result of the query on demo: penguins v1 needs column(s) missing "
        "from the input: bill_length_mm, bill_depth_mm, flipper_length_mm, "
        "body_mass_g."
    )


def test_an_empty_result_is_a_no_rows_report_whose_columns_are_checked(
    tiny_classifier, inputs, table
):
    name = table("demo", inputs)
    report = checks.check_query(
        tiny_classifier, "demo", f"SELECT * FROM {name} WHERE id < 0"
    )
    assert report.rows == 0 and report.state == "no rows"
    with pytest.raises(CheckError, match=r"missing from the input: island"):
        checks.check_query(
            tiny_classifier,
            "demo",
            f"SELECT bill_length_mm, bill_depth_mm FROM {name} WHERE id < 0",
        )


def test_a_bad_value_in_a_query_names_its_row_and_column(
    tiny_classifier, inputs, table, monkeypatch
):
    monkeypatch.setattr(checks, "BATCH_ROWS", 100)
    frame = inputs.astype({"body_mass_g": object})
    frame["body_mass_g"] = frame["body_mass_g"].map(
        lambda v: None if pd.isna(v) else str(v)
    )
    frame.loc[frame.index[130], "body_mass_g"] = "heavy"
    name = table("demo", frame)
    with pytest.raises(CheckError) as refused:
        checks.check_query(tiny_classifier, "demo", f"SELECT * FROM {name} ORDER BY id")
    assert str(refused.value) == (
        "The result of the query on demo, row 131, column body_mass_g: "
        "'heavy' is not a number."
    )


def test_a_query_beyond_the_row_limit_is_refused(tiny_classifier, inputs, table):
    name = table("demo", inputs)
    assert (
        checks.check_query(
            tiny_classifier, "demo", f"SELECT * FROM {name}", limit=344
        ).rows
        == 344
    )
    with pytest.raises(CheckError, match=r"^The query returns more than 100 rows"):
        checks.check_query(tiny_classifier, "demo", f"SELECT * FROM {name}", limit=100)
    # The query's own LIMIT is kept.
    report = checks.check_query(
        tiny_classifier, "demo", f"SELECT * FROM {name} LIMIT 50", limit=100
    )
    assert report.rows == 50


def test_a_failing_query_says_the_databases_words(tiny_classifier):
    require_datasource("demo")
    with pytest.raises(CheckError) as refused:
        checks.check_query(tiny_classifier, "demo", "SELECT * FROM no_such_table")
    assert str(refused.value).startswith("The query could not be read: demo: ")
    assert "no_such_table" in str(refused.value)
    assert refused.value.field == "sql"


def test_a_slow_query_is_stopped_at_the_datasources_query_timeout(
    tiny_classifier, settings, use_config
):
    import dataclasses

    require_datasource("postgres")
    sources = dict(settings.CONFIG.datasources)
    sources["postgres"] = dataclasses.replace(sources["postgres"], query_timeout=1)
    use_config(datasources=sources)
    with pytest.raises(CheckError) as refused:
        checks.check_query(
            tiny_classifier,
            "postgres",
            # Counting to 10^9 takes far longer than a second.
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r "
            "WHERE n < 1000000000) SELECT COUNT(*) AS island FROM r",
        )
    assert str(refused.value) == (
        "postgres: the check ran longer than 1 s, the datasource's query_timeout "
        "(datasources.postgres.query_timeout), and was stopped; narrow the query "
        "(WHERE, LIMIT)."
    )


def test_small_fetched_batches_are_predicted_joined(
    tiny_classifier, inputs, table, monkeypatch
):
    import pyarrow as pa

    batches = [pa.record_batch({"a": list(range(30))}) for _ in range(5)]
    joined = list(checks._joined(iter(batches), 50))
    assert [len(t) for t in joined] == [60, 60, 30]
    assert joined[0].column("a").to_pylist() == list(range(30)) * 2
    # A query's wide text columns come in fetches of a few hundred rows;
    # the model sees batches of BATCH_ROWS.
    sizes = []
    original = registry.predict_batch

    def spy(version, batch, **kwargs):
        sizes.append(len(batch))
        return original(version, batch, **kwargs)

    monkeypatch.setattr(checks.registry, "predict_batch", spy)
    big = pd.concat([inputs] * 40, ignore_index=True)  # 13,760 rows
    name = table("demo", big.assign(id=range(len(big))))
    report = checks.check_query(tiny_classifier, "demo", f"SELECT * FROM {name}")
    assert report.rows == 13_760
    assert sizes[0] >= checks.BATCH_ROWS and sum(sizes) == 13_760
