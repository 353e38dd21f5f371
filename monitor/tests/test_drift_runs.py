"""Drift in real dispatch runs: the real runner over the SQLite ODBC driver,
a real (tiny) AutoGluon model and its saved reference; the report stored per
run, drift.detected / drift.cleared on change, the alerts once until
recovery."""

import contextlib
import uuid

import pyarrow as pa
import pytest
from django.core import mail

from dispatch import runner
from dispatch.models import RunStatus
from mlframework.config import AlertsConfig
from mlframework.events.models import Event
from mlframework.lib import odbc
from monitor import services
from monitor.drift import alerts as drift_alerts
from monitor.drift import runs
from monitor.drift.report import DriftReport
from monitor.models import (
    AlertState,
    AlertStatus,
    DriftState,
    ModelMonitoring,
    Rule,
    RunDrift,
)
from registry.models import DriftReference

pytestmark = pytest.mark.django_db(databases=["default", "events"])

FEATURES = [
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
    "year",
]


def shifted(frame):
    """Four of the seven features moved far: dataset drift."""
    frame = frame.copy()
    frame["bill_length_mm"] = frame["bill_length_mm"] + 15
    frame["flipper_length_mm"] = frame["flipper_length_mm"] + 30
    frame["body_mass_g"] = frame["body_mass_g"] * 1.6
    frame["island"] = "Biscoe"
    return frame


@pytest.fixture(autouse=True)
def alert_config(use_config):
    use_config(alerts=AlertsConfig(email_to=["ops@example.com"]), hosts=[])


@pytest.fixture
def table():
    """Fresh source tables in the demo SQLite datasource, dropped after."""
    made = []

    def make(frame) -> str:
        name = f"src_{uuid.uuid4().hex[:10]}"
        made.append(name)
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        odbc.create_table("demo", name, arrow.schema)
        odbc.write_table("demo", name, arrow)
        return name

    yield make
    for name in made + [f"sink_{name}" for name in made]:
        with contextlib.suppress(odbc.OdbcError):
            odbc.execute("demo", f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
def scoring(tiny_classifier, make_dispatch, table, penguins_frame):
    """One dispatch whose source table can be replaced between runs."""
    source = table(penguins_frame.drop(columns=["species"]))
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {source}",
        sink_table=f"sink_{source}",
        key_columns=["id"],
        chunk_size=100,
    )

    def feed(frame):
        name = table(frame.drop(columns=["species"]))
        dispatch.source_query = f"SELECT * FROM {name}"
        dispatch.save(update_fields=["source_query"])
        return dispatch

    dispatch.feed = feed
    return dispatch


def run(dispatch):
    done = runner.run_scheduled(dispatch.pk)
    assert done.status == RunStatus.SUCCEEDED, done.error
    return done


def kinds(run_):
    return list(
        Event.objects.using("events")
        .filter(dispatch_run_id=run_.pk, kind__startswith="drift.")
        .values_list("kind", flat=True)
    )


def test_an_identical_source_has_a_report_without_drift(scoring, tiny_classifier):
    done = run(scoring)
    found = RunDrift.objects.get(run=done)
    assert found.state == DriftState.CHECKED and found.reason == ""
    assert found.version == tiny_classifier
    assert found.dispatch_id == scoring.pk
    assert found.rows == 344
    assert not found.dataset_drift and not found.prediction_drift
    assert found.drift_share is not None and found.drift_share < 0.5
    report = DriftReport.from_json(found.report)
    assert {f.name for f in report.features} == set(FEATURES)
    assert all(f.checked for f in report.features), [
        (f.name, f.state) for f in report.features
    ]
    assert report.prediction is not None and report.prediction.checked
    assert kinds(done) == []
    assert "drift" in done.timings and done.timings["drift"] > 0


def test_features_come_ranked_by_permutation_importance(scoring, tiny_classifier):
    done = run(scoring)
    report = DriftReport.from_json(RunDrift.objects.get(run=done).report)
    ranked = [f.importance for f in report.features if f.importance is not None]
    assert ranked and ranked == sorted(ranked, reverse=True)


def test_a_shifted_source_drifts_alerts_once_then_clears(
    scoring, penguins_frame, tiny_classifier
):
    first = run(scoring.feed(shifted(penguins_frame)))
    found = RunDrift.objects.get(run=first)
    assert found.dataset_drift and found.drift_share >= 0.5
    assert {"bill_length_mm", "flipper_length_mm", "body_mass_g", "island"} <= set(
        found.drifted
    )
    assert kinds(first) == ["drift.detected"]
    detected = Event.objects.using("events").get(
        dispatch_run_id=first.pk, kind="drift.detected"
    )
    assert "dataset drift" in detected.message
    assert detected.data["dataset_drift"] is True
    assert detected.model_version_id == tiny_classifier.pk
    state = AlertState.objects.get(key=f"dispatch:{scoring.pk}:drift")
    assert state.status == AlertStatus.FIRING and state.rule == Rule.DATASET_DRIFT
    assert len([m for m in mail.outbox if "Dataset drift" in m.subject]) == 1

    second = run(scoring)  # still shifted: no new event, no second alert
    assert kinds(second) == []
    services.check_and_alert()  # the monitor's round agrees: nothing new
    assert len([m for m in mail.outbox if "Dataset drift" in m.subject]) == 1
    assert AlertState.objects.get(key=state.key).times_fired == 1

    third = run(scoring.feed(penguins_frame))
    assert kinds(third) == ["drift.cleared"]
    assert AlertState.objects.get(key=state.key).status == AlertStatus.OK
    assert any(m.subject.startswith("[mlframework] recovered") for m in mail.outbox)


def test_an_important_feature_drifting_n_runs_in_a_row_alerts(
    scoring, penguins_frame, tiny_classifier
):
    ModelMonitoring.objects.create(
        model=tiny_classifier.model, important_features=7, important_runs=2
    )
    moved = penguins_frame.copy()
    moved["flipper_length_mm"] = moved["flipper_length_mm"] + 30
    scoring.feed(moved)
    first = run(scoring)
    assert "flipper_length_mm" in RunDrift.objects.get(run=first).important_drifted
    key = f"dispatch:{scoring.pk}:feature_drift"
    assert AlertState.objects.get(key=key).status == AlertStatus.OK  # once is not yet
    run(scoring)
    state = AlertState.objects.get(key=key)
    assert state.status == AlertStatus.FIRING
    assert "flipper_length_mm" in state.detail and "last 2 runs" in state.detail


def test_monitoring_off_stores_why(scoring, tiny_classifier):
    ModelMonitoring.objects.create(model=tiny_classifier.model, drift_enabled=False)
    done = run(scoring)
    found = RunDrift.objects.get(run=done)
    assert found.state == DriftState.UNCHECKED
    assert found.reason == "drift monitoring is off"
    assert "drift" not in done.timings


def test_a_version_without_reference_runs_and_says_so(scoring, tiny_classifier):
    DriftReference.objects.filter(version=tiny_classifier).delete()
    done = run(scoring)
    found = RunDrift.objects.get(run=done)
    assert found.state == DriftState.UNCHECKED
    assert "drift_reference --missing" in found.reason
    assert not found.dataset_drift


def test_a_failed_run_keeps_a_partial_report_that_never_alerts(
    scoring, penguins_frame, table
):
    bad = penguins_frame.drop(columns=["species"])
    bad["bill_length_mm"] = bad["bill_length_mm"].astype(str)
    bad.loc[250, "bill_length_mm"] = "not a number"
    name = table(bad)
    scoring.source_query = f"SELECT * FROM {name}"
    scoring.save(update_fields=["source_query"])
    done = runner.run_scheduled(scoring.pk)
    assert done.status == RunStatus.FAILED
    found = RunDrift.objects.get(run=done)
    assert found.state == DriftState.UNCHECKED
    assert found.reason.startswith("the run failed")
    assert drift_alerts.findings([scoring])[0].failing is False


def test_saved_settings_change_the_methods(scoring, tiny_classifier):
    ModelMonitoring.objects.create(
        model=tiny_classifier.model,
        drift_settings={"numeric_method": "psi", "ignored": ["year"]},
    )
    report = DriftReport.from_json(RunDrift.objects.get(run=run(scoring)).report)
    assert "year" not in {f.name for f in report.features}
    numeric = [f for f in report.features if f.kind == "numeric"]
    assert numeric and {f.method for f in numeric} == {"psi"}


def test_settings_that_no_longer_validate_fall_back_to_the_defaults(tiny_classifier):
    monitoring = ModelMonitoring(
        model=tiny_classifier.model, drift_settings={"numeric_method": "magic"}
    )
    assert runs.settings_of(monitoring).numeric_method == ""


def test_a_failing_hook_never_fails_the_run(scoring, monkeypatch):
    def broken(self, batch):
        raise RuntimeError("boom")

    monkeypatch.setattr(runs.DriftAccumulator, "hook", broken)
    done = run(scoring)
    found = RunDrift.objects.get(run=done)
    assert found.state == DriftState.FAILED
    assert found.reason == "RuntimeError: boom"
    assert done.rows_written == 344


def test_no_finding_fails_before_any_report(make_dispatch):
    dispatch = make_dispatch()
    found = drift_alerts.findings([dispatch])
    assert [f.rule for f in found] == [
        Rule.DATASET_DRIFT,
        Rule.FEATURE_DRIFT,
        Rule.PREDICTION_DRIFT,
    ]
    assert not any(f.failing for f in found)
    assert found[0].detail == "no checked drift report yet"


def test_the_command_line_summary_says_the_drift(scoring, penguins_frame):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("dispatch", "run", str(scoring.pk), stdout=out)
    assert (
        "succeeded, 344 read, 344 written; drift: 0 of 7 features drifted"
        in (out.getvalue())
        or "; drift: 1 of 7 features drifted" in out.getvalue()
    )
    assert "no dataset drift" in out.getvalue()
    scoring.feed(shifted(penguins_frame))
    out = StringIO()
    call_command("dispatch", "run", str(scoring.pk), stdout=out)
    assert ", dataset drift" in out.getvalue()


def test_a_run_without_a_model_is_described_so(make_dispatch, make_run):
    done = make_run(make_dispatch(), status="failed")
    assert runs.describe(done) == "drift: no report (the run did not reach the model)"
