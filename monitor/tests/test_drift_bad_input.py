"""Issue 15 item 8: bad input never fails a run because of monitoring.

Each case runs a real dispatch (SQLite source and sink, the tiny AutoGluon
model) and reads the run's stored drift (run.drift); the same rows checked on
demand (the accumulator through predict_batch's hook) give the same state.
"""

import numpy as np
import pandas as pd
import pytest

from dispatch import runner
from dispatch.models import DispatchRun, RunStatus
from monitor.drift import checks
from monitor.models import DriftState, RunDrift
from registry import drift_reference, training
from registry.drift_reference import Reference
from registry.models import DriftReference

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def inputs(penguins_frame):
    return penguins_frame.drop(columns=["species"])


@pytest.fixture
def run_on(tiny_classifier, make_dispatch, drift_table):
    """Run a dispatch of the tiny classifier over `frame`; the finished run."""

    def run(frame, where: str = ""):
        source = drift_table("demo", frame, "src")
        dispatch = make_dispatch(
            model=tiny_classifier.model,
            source_query=f"SELECT * FROM {source} {where}".strip(),
            sink_table=drift_table("demo", prefix="sink"),
            key_columns=["id"],
            chunk_size=100,
        )
        finished = runner.run_scheduled(dispatch.pk)
        run = DispatchRun.objects.select_related("drift").get(pk=finished.pk)
        run.source_query = dispatch.source_query
        return run

    return run


def report_of(run):
    from monitor.drift.report import DriftReport

    return DriftReport.from_json(run.drift.report)


def succeeded(run):
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.error == ""
    return True


def test_zero_rows_is_a_state_and_the_run_succeeds(run_on, inputs, tiny_classifier):
    run = run_on(inputs, "WHERE id < 0")
    assert succeeded(run) and run.rows_read == 0
    assert run.drift.state == DriftState.UNCHECKED
    assert run.drift.reason == "no rows"
    assert run.drift.rows == 0 and run.drift.drift_share is None
    assert not run.drift.dataset_drift and not run.drift.prediction_drift
    assert {f.state for f in report_of(run).features} == {"no rows"}
    # On demand: the same, as a report whose state says so.
    checked = checks.check_query(tiny_classifier, "demo", run.source_query)
    assert checked.state == "no rows" and checked.rows == 0


def test_an_all_missing_column_is_a_state_and_the_run_succeeds(
    run_on, inputs, tiny_classifier
):
    frame = inputs.copy()
    frame["bill_length_mm"] = np.nan
    frame["sex"] = pd.Series([None] * len(frame), dtype="string")  # text, all NULL
    run = run_on(frame)
    assert succeeded(run) and run.rows_written == 344
    assert run.drift.state == DriftState.CHECKED and run.drift.rows == 344
    report = report_of(run)
    for name in ("bill_length_mm", "sex"):
        entry = report.get(name)
        assert entry.state == "all missing" and entry.missing_share == 1.0
        assert not entry.drifted and name not in run.drift.drifted
    assert report.get("flipper_length_mm").checked
    checked = checks.check_query(tiny_classifier, "demo", run.source_query)
    assert checked.get("bill_length_mm").state == "all missing"


def test_numbers_arriving_as_text_are_measured_and_the_run_succeeds(
    run_on, inputs, tiny_classifier
):
    # The source's column type changed from a number to text holding numbers.
    frame = inputs.copy()
    frame["flipper_length_mm"] = frame["flipper_length_mm"].map(
        lambda v: None if pd.isna(v) else f"{v:g}"
    )
    run = run_on(frame)
    assert succeeded(run)
    entry = report_of(run).get("flipper_length_mm")
    assert entry.checked and not entry.drifted
    assert entry.wrong_type_share == 0.0


def test_a_categorical_feature_arriving_as_numbers_is_unseen_and_the_run_succeeds(
    run_on, inputs, tiny_classifier
):
    frame = inputs.copy()
    frame["island"] = frame["island"].map({"Biscoe": 1, "Dream": 2, "Torgersen": 3})
    run = run_on(frame)
    assert succeeded(run)
    island = report_of(run).get("island")
    assert island.checked and island.drifted and island.unseen_share == 1.0
    assert "island" in run.drift.drifted


def test_text_in_a_numeric_feature_fails_on_prediction_not_on_monitoring(
    run_on, inputs, tiny_classifier
):
    # The model cannot predict "n/a" as a number (the registry refuses rather
    # than guess), so the run fails with the row and column; the drift of the
    # rows predicted before is kept as "not checked", saying why.
    frame = inputs.copy().astype({"body_mass_g": object})
    frame["body_mass_g"] = frame["body_mass_g"].map(
        lambda v: None if pd.isna(v) else f"{v:g}"
    )
    frame.loc[frame.index[150], "body_mass_g"] = "n/a"
    run = run_on(frame, "ORDER BY id")
    assert run.status == RunStatus.FAILED
    assert run.error == "Source row 151, column body_mass_g: 'n/a' is not a number."
    assert run.drift.state == DriftState.UNCHECKED
    assert run.drift.reason.startswith("the run failed")
    assert run.drift.rows == 100  # the first chunk was measured
    # The accumulator alone reads the same column as a state, not an error.
    from monitor.drift.accumulator import DriftAccumulator

    accumulator = DriftAccumulator.for_version(tiny_classifier)
    accumulator.add(frame.assign(body_mass_g="n/a"))
    assert accumulator.report().get("body_mass_g").state == (
        "new type: values are not numbers (e.g. 'n/a')"
    )


def test_only_unseen_categories_are_a_state_and_the_run_succeeds(
    run_on, inputs, tiny_classifier
):
    frame = inputs.copy()
    frame["island"] = "Atlantis"
    frame["sex"] = "unknown"
    run = run_on(frame)
    assert succeeded(run) and run.rows_written == 344
    report = report_of(run)
    for name in ("island", "sex"):
        entry = report.get(name)
        assert entry.checked and entry.drifted and entry.unseen_share == 1.0
        assert entry.bins["note"] == "only unseen categories"
    checked = checks.check_query(tiny_classifier, "demo", run.source_query)
    assert checked.get("island").unseen_share == 1.0


def test_a_missing_reference_is_a_state_and_the_run_succeeds(
    run_on, inputs, tiny_classifier
):
    DriftReference.objects.filter(version=tiny_classifier).delete()
    run = run_on(inputs)
    assert succeeded(run) and run.rows_written == 344
    assert run.drift.state == DriftState.UNCHECKED
    assert run.drift.reason.startswith("no reference: not built yet")
    assert run.drift.drifted == [] and run.drift.drift_share is None


def test_a_reference_that_cannot_be_rebuilt_is_a_state_and_the_run_succeeds(
    run_on, inputs, tiny_classifier
):
    tiny_classifier.dataset = None  # the dataset was deleted
    tiny_classifier.save(update_fields=["dataset"])
    rebuilt = training.rebuild_drift_reference(tiny_classifier)
    assert not rebuilt.ok
    run = run_on(inputs)
    assert succeeded(run)
    assert run.drift.state == DriftState.UNCHECKED
    assert run.drift.reason == (
        "no reference: The held-out rows of penguins v1 cannot be rebuilt: it "
        "was not trained from a stored dataset, or the dataset was deleted."
    )
    checked = checks.check_query(tiny_classifier, "demo", run.source_query)
    assert checked.state == run.drift.reason


def test_an_unreadable_reference_is_a_state_and_the_run_succeeds(
    run_on, inputs, tiny_classifier
):
    DriftReference.objects.filter(version=tiny_classifier).update(
        data={"features": [{"kind": "numeric"}]}
    )
    run = run_on(inputs)
    assert succeeded(run)
    assert run.drift.state == DriftState.UNCHECKED
    assert run.drift.reason == "no usable reference: 'name'"


def test_a_reference_of_other_columns_checks_nothing_and_the_run_succeeds(
    run_on, inputs, tiny_classifier
):
    # A reference saved for columns the model no longer takes.
    drift_reference.save(
        tiny_classifier,
        Reference(
            rows=10,
            features=(drift_reference.numeric_reference("gone", inputs["year"]),),
        ),
    )
    run = run_on(inputs)
    assert succeeded(run)
    assert run.drift.state == DriftState.UNCHECKED
    assert run.drift.reason == "no feature could be checked"
    assert report_of(run).get("gone").state == "not in the input"
    assert RunDrift.objects.filter(run=run).count() == 1
