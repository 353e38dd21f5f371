"""The drift reference saved at training, rebuilt for older versions by
`manage.py drift_reference`, and read by the predict path's drift hook."""

import io

import pyarrow as pa
import pytest
from django.core.management import CommandError, call_command

from monitor.drift.accumulator import DriftAccumulator
from registry import datasets, services
from registry.contracts import Lineage
from registry.drift_reference import Reference
from registry.models import ModelVersion

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def penguins_dataset(db):
    from mlframework.core import demo

    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    return dataset


def run(*args) -> str:
    out = io.StringIO()
    call_command("drift_reference", *args, stdout=out)
    return out.getvalue()


def forget_reference(version: ModelVersion, dataset=None) -> ModelVersion:
    """As a version trained before references were saved."""
    version.lineage = version.lineage.replace(drift_reference={})
    version.dataset = dataset
    version.save(update_fields=["lineage", "dataset"])
    return version


def test_training_saves_the_reference_of_the_training_rows(tiny_classifier):
    version = tiny_classifier
    reference = Reference.from_json(version.lineage.drift_reference)
    assert reference.ok and reference.rows == version.lineage.train_rows
    assert [f.name for f in reference.features] == version.feature_names()
    island = reference.get("island")
    assert island.kind == "categorical" and island.other == 0
    assert {value for value, _ in island.frequencies} == {
        "Biscoe",
        "Dream",
        "Torgersen",
    }
    bill = reference.get("bill_length_mm")
    assert bill.kind == "numeric" and len(bill.sample) == bill.present
    assert sum(bill.counts) == bill.present and bill.rows == reference.rows
    # The predictions' reference: the held-out rows' predicted classes.
    prediction = reference.prediction
    assert prediction.kind == "categorical"
    assert sum(c for _, c in prediction.frequencies) == version.lineage.test_rows
    assert {value for value, _ in prediction.frequencies} <= set(version.classes)


def test_a_regressors_prediction_reference_is_a_distribution(tiny_regressor):
    reference = Reference.from_json(tiny_regressor.lineage.drift_reference)
    prediction = reference.prediction
    assert prediction.kind == "numeric" and prediction.std > 0
    assert len(prediction.sample) == tiny_regressor.lineage.test_rows


def test_the_rebuilt_reference_equals_the_one_saved_at_training(
    tiny_classifier, penguins_dataset
):
    saved = tiny_classifier.lineage.drift_reference
    version = forget_reference(tiny_classifier, penguins_dataset)
    assert "penguins v1: reference saved (7 features" in run("--missing")
    version.refresh_from_db()
    assert version.lineage.drift_reference == saved
    assert run("--missing").strip() == "every ready version has its drift reference"
    assert "1 of 1 reference(s) built" in run("--all")


def test_a_version_whose_dataset_is_gone_gets_a_clear_state(
    tiny_classifier, penguins_frame
):
    version = forget_reference(tiny_classifier)
    out = run("penguins:1")
    assert "penguins v1: no reference: The held-out rows of penguins v1 cannot" in out
    assert "0 of 1 reference(s) built" in out
    version.refresh_from_db()
    reference = Reference.from_json(version.lineage.drift_reference)
    assert not reference.ok and reference.state.startswith("no reference: ")
    assert run("--missing").strip() == "every ready version has its drift reference"
    # The run's drift report says so instead of failing.
    accumulator = DriftAccumulator.for_version(version)
    frame = penguins_frame.drop(columns=["species"])
    services.predict_batch(version, frame, hooks=[accumulator.hook])
    report = accumulator.report()
    assert report.state == reference.state and report.features == ()


def test_the_command_refuses_what_it_cannot_do(tiny_classifier):
    with pytest.raises(CommandError, match="--missing or --all"):
        run()
    with pytest.raises(CommandError, match="write MODEL:NUMBER or MODEL@ALIAS"):
        run("penguins")
    with pytest.raises(CommandError, match="nope@production"):
        run("nope@production")


def test_the_lineage_keeps_the_reference_through_json():
    lineage = Lineage(drift_reference={"rows": 3, "features": []})
    assert (
        Lineage.from_json(lineage.to_json()).drift_reference == lineage.drift_reference
    )
    assert Lineage.from_json({}).drift_reference == {}


def test_predict_batch_feeds_the_drift_hook(tiny_classifier, penguins_frame):
    version = tiny_classifier
    accumulator = DriftAccumulator.for_version(version)
    frame = penguins_frame.drop(columns=["species"])
    half = len(frame) // 2
    services.predict_batch(version, frame.iloc[:half], hooks=[accumulator.hook])
    batch = pa.RecordBatch.from_pandas(frame.iloc[half:], preserve_index=False)
    services.predict_batch(version, batch, hooks=[accumulator.hook])
    report = accumulator.report()
    assert report.rows == len(frame) and report.state == ""
    # The training data itself: nothing drifts.
    assert report.drifted == [] and not report.prediction_drift
    assert report.prediction.rows == len(frame)
    assert {f.name for f in report.checked} == set(version.feature_names())
    importance = {
        row["feature"]: row["importance"] for row in version.feature_importance
    }
    ranked = sorted(importance, key=lambda name: -importance[name])
    assert [f.name for f in report.features] == ranked
    # A shifted source drifts.
    shifted = DriftAccumulator.for_version(version)
    moved = frame.assign(
        bill_length_mm=frame["bill_length_mm"] + 8, island="Biscoe", year=2030
    )
    services.predict_batch(version, moved, hooks=[shifted.hook])
    found = shifted.report()
    assert {"bill_length_mm", "island", "year"} <= set(found.drifted)
    assert found.get("year").out_of_range_share == 1.0
