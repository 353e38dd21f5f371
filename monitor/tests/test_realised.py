"""Realised performance end to end: real dispatch runs of the tiny models into
SQLite, MariaDB and PostgreSQL, an actuals table in the same engine, the join
and its metrics against scikit-learn's on the same rows, the bad inputs and
the metric-decline alert."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from django.utils import timezone
from sklearn import metrics as skm

from conftest import ODBC_DATASOURCES, require_datasource
from dispatch import runner
from dispatch.models import DispatchRun
from mlframework.lib import odbc
from monitor import alerts, realised
from monitor.alerts import NoticeState
from monitor.models import (
    AlertState,
    AlertStatus,
    MetricScope,
    ModelMonitoring,
    RealisedScore,
    RealisedState,
    Rule,
)
from monitor.tests.realised_world import monitor, sink_frame, truth_of

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture(params=ODBC_DATASOURCES)
def engine(request):
    require_datasource(request.param)
    return request.param


def run_score(run) -> RealisedScore:
    return RealisedScore.objects.get(scope=MetricScope.RUN, run=run)


def day_score(version, day) -> RealisedScore:
    return RealisedScore.objects.get(scope=MetricScope.DAY, version=version, day=day)


def expected(sink: pd.DataFrame, truth: pd.DataFrame, classes) -> dict:
    """sklearn's metrics on the rows a plain pandas join of the two gives."""
    joined = sink.assign(id=sink["id"].astype("int64")).merge(
        truth.assign(id=truth["id"].astype("int64")), on="id"
    )
    proba = joined[[f"proba_{c}" for c in classes]].to_numpy("float64")
    return {
        "rows": len(joined),
        "accuracy": skm.accuracy_score(joined["actual"], joined["prediction"]),
        "f1_macro": skm.f1_score(
            joined["actual"], joined["prediction"], average="macro"
        ),
        "roc_auc": skm.roc_auc_score(
            joined["actual"], proba, multi_class="ovr", average="macro", labels=classes
        ),
    }


# -- the join on each engine --------------------------------------------------


@pytest.mark.slow
def test_it_joins_the_actuals_on_each_engine(
    engine,
    tiny_classifier,
    dispatch_into,
    run_dispatch,
    actuals_in,
    penguins_frame,
):
    dispatch = dispatch_into(tiny_classifier, engine)
    run = run_dispatch(dispatch)
    # Actuals for 300 of the 344 rows, every 7th one not what the model says;
    # the key an INTEGER where the sink's is a BIGINT.
    truth = truth_of(penguins_frame, "species", wrong_every=7).head(300)
    table = actuals_in(engine, truth, types={"id": "INTEGER"})
    monitor(tiny_classifier.model, engine, f"SELECT id, actual FROM {table}")

    computation = realised.compute(tiny_classifier.model)

    assert computation.ok, computation.error
    assert "1 of 1 run(s) scored" in computation.summary()
    score = run_score(run)
    assert score.state == RealisedState.SCORED, score.reason
    want = expected(
        sink_frame(engine, dispatch.sink_table), truth, tiny_classifier.classes
    )
    assert (
        (score.rows_predicted, score.rows_matched) == (344, 300) == (344, want["rows"])
    )
    assert score.metrics["accuracy"] == pytest.approx(want["accuracy"], abs=1e-12)
    assert score.metrics["f1_macro"] == pytest.approx(want["f1_macro"], abs=1e-12)
    assert score.metrics["roc_auc"] == pytest.approx(want["roc_auc"], abs=1e-12)
    assert score.metrics["accuracy"] < 0.9  # the swapped labels count
    assert score.absent == {}
    day = day_score(tiny_classifier, run.started.astimezone(dt.UTC).date())
    assert day.metrics == score.metrics and day.rows_matched == 300


@pytest.mark.slow
def test_the_sinks_keys_meet_text_keys_of_another_engine(
    engine,
    tiny_classifier,
    dispatch_into,
    run_dispatch,
    actuals_in,
    penguins_frame,
):
    # Predictions in each engine, actuals in SQLite with the id as padded text.
    require_datasource("demo")
    run = run_dispatch(dispatch_into(tiny_classifier, engine))
    truth = truth_of(penguins_frame, "species")
    text = truth.assign(id=[f" {i} " for i in truth["id"]])
    table = actuals_in("demo", text, types={"id": "VARCHAR(20)"})
    monitor(tiny_classifier.model, "demo", f"SELECT * FROM {table}")

    realised.compute(tiny_classifier.model)

    score = run_score(run)
    assert score.state == RealisedState.SCORED, score.reason
    assert score.rows_matched == 344


def test_a_regression_is_scored_with_rmse_and_mae(
    tiny_regressor, dispatch_into, run_dispatch, actuals_in, penguins_frame
):
    run = run_dispatch(dispatch_into(tiny_regressor))
    truth = penguins_frame[["id", "body_mass_g"]].dropna()
    truth = truth.assign(actual=truth["body_mass_g"].astype("float64") + 50.0)
    table = actuals_in("demo", truth[["id", "actual"]])
    monitor(tiny_regressor.model, "demo", f"SELECT id, actual FROM {table}")

    realised.compute(tiny_regressor.model)

    score = run_score(run)
    sink = sink_frame("demo", run.dispatch.sink_table)
    joined = sink.merge(truth, on="id")
    assert score.rows_matched == len(joined) == 342
    rmse = np.sqrt(skm.mean_squared_error(joined["actual"], joined["prediction"]))
    assert score.metrics == pytest.approx(
        {
            "rmse": rmse,
            "mae": skm.mean_absolute_error(joined["actual"], joined["prediction"]),
        },
        abs=1e-9,
    )
    assert score.absent == {}


@pytest.fixture
def tiny_binary(db, penguins_frame):
    """Model "penguins-sex" v1 predicting sex (binary: female, male)."""
    from registry.tests.helpers import train_tiny

    return train_tiny(penguins_frame.dropna(subset=["sex"]), "sex", "penguins-sex")


@pytest.mark.slow
def test_binary_f1_is_of_the_versions_second_class_and_auc_of_its_probability(
    tiny_binary, dispatch_into, run_dispatch, actuals_in, penguins_frame
):
    assert list(tiny_binary.classes) == ["female", "male"]
    run = run_dispatch(dispatch_into(tiny_binary))
    truth = truth_of(penguins_frame, "sex", wrong_every=5)
    table = actuals_in("demo", truth)
    monitor(tiny_binary.model, "demo", f"SELECT id, actual FROM {table}")

    realised.compute(tiny_binary.model)

    score = run_score(run)
    joined = sink_frame("demo", run.dispatch.sink_table).merge(truth, on="id")
    assert score.rows_matched == len(joined)
    assert score.metrics["f1"] == pytest.approx(
        skm.f1_score(joined["actual"], joined["prediction"], pos_label="male"),
        abs=1e-12,
    )
    assert score.metrics["roc_auc"] == pytest.approx(
        skm.roc_auc_score(joined["actual"] == "male", joined["proba_male"]),
        abs=1e-12,
    )
    assert score.metrics["accuracy"] == pytest.approx(
        skm.accuracy_score(joined["actual"], joined["prediction"]), abs=1e-12
    )


def test_without_probabilities_roc_auc_is_absent_with_the_reason(
    tiny_classifier, dispatch_into, run_dispatch, actuals_in, penguins_frame
):
    run = run_dispatch(dispatch_into(tiny_classifier, include_probabilities=False))
    table = actuals_in("demo", truth_of(penguins_frame, "species"))
    monitor(tiny_classifier.model, "demo", f"SELECT * FROM {table}")

    realised.compute(tiny_classifier.model)

    score = run_score(run)
    assert score.state == RealisedState.SCORED
    assert set(score.metrics) == {"accuracy", "f1_macro"}
    assert "wrote no probabilities" in score.absent["roc_auc"]


@pytest.mark.slow
def test_a_day_pools_the_rows_of_its_runs(
    tiny_classifier, dispatch_into, run_dispatch, actuals_in, penguins_frame
):
    dispatch = dispatch_into(tiny_classifier)
    first, second = run_dispatch(dispatch), run_dispatch(dispatch)
    truth = truth_of(penguins_frame, "species", wrong_every=3)
    table = actuals_in("demo", truth)
    monitor(tiny_classifier.model, "demo", f"SELECT * FROM {table}")

    computation = realised.compute(tiny_classifier.model)

    assert [s.run_id for s in computation.runs] == [first.pk, second.pk]
    day = day_score(tiny_classifier, first.started.astimezone(dt.UTC).date())
    assert (day.rows_predicted, day.rows_matched) == (688, 688)
    assert day.metrics["accuracy"] == pytest.approx(
        run_score(first).metrics["accuracy"], abs=1e-12
    )
    # Computing again replaces the scores, never adds to them.
    realised.compute(tiny_classifier.model)
    assert RealisedScore.objects.filter(scope=MetricScope.RUN).count() == 2
    assert RealisedScore.objects.filter(scope=MetricScope.DAY).count() == 1


@pytest.mark.slow
def test_only_recent_successful_runs_are_scored(
    tiny_classifier, dispatch_into, run_dispatch, actuals_in, penguins_frame
):
    dispatch = dispatch_into(tiny_classifier)
    old, recent = run_dispatch(dispatch), run_dispatch(dispatch)
    DispatchRun.objects.filter(pk=old.pk).update(
        started=timezone.now() - dt.timedelta(days=40)
    )
    failed = DispatchRun.objects.create(
        dispatch=dispatch, status="failed", started=timezone.now()
    )
    table = actuals_in("demo", truth_of(penguins_frame, "species"))
    monitor(tiny_classifier.model, "demo", f"SELECT * FROM {table}")

    computation = realised.compute(tiny_classifier.model)

    assert [s.run_id for s in computation.runs] == [recent.pk]
    assert not RealisedScore.objects.filter(run__in=[old, failed]).exists()
    assert [
        s.run_id for s in realised.compute(tiny_classifier.model, days=60).runs
    ] == [
        old.pk,
        recent.pk,
    ]


# -- bad input: a state and a reason, never an exception ----------------------


@pytest.fixture
def one_run(tiny_classifier, dispatch_into, run_dispatch):
    return run_dispatch(dispatch_into(tiny_classifier))


def failed_with(model, query, datasource="demo", **fields) -> tuple[str, str]:
    monitor(model, datasource, query, **fields)
    computation = realised.compute(model)
    score = RealisedScore.objects.get(scope=MetricScope.RUN)
    return computation.error, f"{score.state}: {score.reason}"


def test_it_refuses_an_actuals_query_that_writes(one_run, tiny_classifier):
    error, stored = failed_with(tiny_classifier.model, "DELETE FROM penguins")
    assert "the actuals query may not run on a read path" in error
    assert stored.startswith("failed: the actuals query may not run")
    monitoring = ModelMonitoring.objects.get(model=tiny_classifier.model)
    assert monitoring.realised_error == error and monitoring.realised_checked


def test_it_names_a_missing_key_column(one_run, tiny_classifier, actuals_in):
    table = actuals_in("demo", pd.DataFrame({"ident": [1], "actual": ["Adelie"]}))
    error, stored = failed_with(tiny_classifier.model, f"SELECT * FROM {table}")
    assert "returns no column id (a key column); it returns ident, actual" in error
    assert "no column id" in stored


def test_it_names_a_missing_label_column(one_run, tiny_classifier, actuals_in):
    table = actuals_in("demo", pd.DataFrame({"id": [1], "truth": ["Adelie"]}))
    error, _ = failed_with(tiny_classifier.model, f"SELECT * FROM {table}")
    assert "no column actual (the label column)" in error


def test_labels_that_are_no_class_are_named(one_run, tiny_classifier, actuals_in):
    table = actuals_in("demo", pd.DataFrame({"id": [1, 2, 3], "actual": [1, 2, 3]}))
    error, stored = failed_with(tiny_classifier.model, f"SELECT * FROM {table}")
    assert error == ""  # the query is fine; the run's labels are not
    assert stored.startswith("failed: none of the actual labels (actual: '1', '2'")
    assert "Adelie" in stored


def test_text_labels_for_a_regression_are_refused(
    tiny_regressor, dispatch_into, run_dispatch, actuals_in
):
    run_dispatch(dispatch_into(tiny_regressor))
    table = actuals_in("demo", pd.DataFrame({"id": [1, 2], "actual": ["heavy", "x"]}))
    _, stored = failed_with(tiny_regressor.model, f"SELECT * FROM {table}")
    assert "holds 'heavy', 'x', not numbers" in stored


def test_no_match_at_all_is_its_own_state(one_run, tiny_classifier, actuals_in):
    table = actuals_in("demo", pd.DataFrame({"id": [9001], "actual": ["Adelie"]}))
    error, stored = failed_with(tiny_classifier.model, f"SELECT * FROM {table}")
    assert error == ""
    assert stored == (
        "no_match: no prediction has its actual label yet (no key matched)"
    )
    day = RealisedScore.objects.get(scope=MetricScope.DAY)
    assert day.state == RealisedState.NO_MATCH and day.rows_predicted == 344


def test_an_empty_actuals_query_matches_nothing(one_run, tiny_classifier, actuals_in):
    table = actuals_in("demo", pd.DataFrame({"id": [1], "actual": ["Adelie"]}))
    _, stored = failed_with(
        tiny_classifier.model, f"SELECT * FROM {table} WHERE id < 0"
    )
    assert stored.startswith("no_match:")


def test_repeated_keys_in_the_actuals_are_refused(one_run, tiny_classifier, actuals_in):
    frame = pd.DataFrame({"id": [5, 5], "actual": ["Adelie", "Gentoo"]})
    table = actuals_in("demo", frame)
    _, stored = failed_with(tiny_classifier.model, f"SELECT * FROM {table}")
    assert "2 rows with a repeated key (e.g. id=5)" in stored


def test_a_broken_actuals_query_is_reported(one_run, tiny_classifier):
    error, _ = failed_with(tiny_classifier.model, "SELECT * FROM no_such_table")
    assert error.startswith("the actuals query failed: demo:")
    assert "no_such_table" in error


def test_an_unknown_actuals_datasource_is_reported(one_run, tiny_classifier):
    error, _ = failed_with(tiny_classifier.model, "SELECT 1", datasource="nowhere")
    assert error == "the actuals datasource nowhere is not configured"


def test_a_dispatch_without_key_columns_cannot_be_joined(
    tiny_classifier, dispatch_into, run_dispatch, actuals_in, penguins_frame
):
    run_dispatch(dispatch_into(tiny_classifier, key_columns=[]))
    table = actuals_in("demo", truth_of(penguins_frame, "species"))
    _, stored = failed_with(tiny_classifier.model, f"SELECT * FROM {table}")
    assert "writes no key columns, so its rows cannot be joined" in stored


def test_a_vanished_sink_is_reported(one_run, tiny_classifier, actuals_in):
    odbc.execute("demo", f"DROP TABLE {one_run.dispatch.sink_table}")
    table = actuals_in("demo", pd.DataFrame({"id": [1], "actual": ["Adelie"]}))
    _, stored = failed_with(tiny_classifier.model, f"SELECT * FROM {table}")
    assert stored == (
        f"failed: the sink table demo.{one_run.dispatch.sink_table} does not "
        "exist (any more)"
    )


def test_rows_replaced_since_are_no_rows(one_run, tiny_classifier, actuals_in):
    odbc.execute("demo", f"DELETE FROM {one_run.dispatch.sink_table}")
    table = actuals_in("demo", pd.DataFrame({"id": [1], "actual": ["Adelie"]}))
    _, stored = failed_with(tiny_classifier.model, f"SELECT * FROM {table}")
    assert stored.startswith("no_rows: no row of this run is in demo.")


def test_a_model_without_an_actuals_query_is_refused(tiny_classifier):
    with pytest.raises(realised.RealisedError, match="has no actuals query"):
        realised.compute(tiny_classifier.model)
    ModelMonitoring.objects.create(model=tiny_classifier.model)
    with pytest.raises(realised.RealisedError, match="has no actuals query"):
        realised.compute(tiny_classifier.model)


# -- keys and metrics ---------------------------------------------------------


def test_keys_of_different_types_are_made_to_match():
    ints = pd.Series([1, 2, 3], dtype="int64")
    cases = [
        pd.Series([1.0, 2.0, 3.0]),  # a float column
        pd.Series([Decimal("1"), Decimal("2"), Decimal("3")], dtype=object),
        pd.Series([" 1", "2 ", "3"]),  # text numbers, padded
        pd.Series([1, 2, 3], dtype="int32"),
    ]
    for other in cases:
        left, right = realised.match_keys(ints, other)
        assert left.tolist() == right.tolist(), other
        assert left.dtype == right.dtype
    left, right = realised.match_keys(pd.Series(["a ", "b"]), pd.Series([" a", "c"]))
    assert left.tolist() == ["a", "b"] and right.tolist() == ["a", "c"]
    # Text that is not all numbers meets numbers as text.
    left, right = realised.match_keys(ints, pd.Series(["1", "x", "3"]))
    assert left.tolist() == ["1", "2", "3"] and right.tolist() == ["1", "x", "3"]
    # Fractions stay fractions.
    left, right = realised.match_keys(pd.Series([1.5, 2.0]), pd.Series([1.5, 2.0]))
    assert left.tolist() == [1.5, 2.0]


def test_proba_columns_are_named_as_the_runner_names_them():
    for label in ["Adelie", "a b", "1", "x-y", "é"]:
        assert realised.proba_column(label) == runner.sink_column(f"proba_{label}")


def test_worse_is_absolute_for_accuracy_and_relative_for_errors():
    assert realised.is_worse("accuracy", 0.89, 0.95, 0.05)
    assert not realised.is_worse("accuracy", 0.91, 0.95, 0.05)
    assert realised.is_worse("rmse", 106.0, 100.0, 0.05)
    assert not realised.is_worse("rmse", 104.0, 100.0, 0.05)
    assert not realised.is_worse("rmse", 50.0, 100.0, 0.05)  # better


def test_held_out_scores_are_read_under_the_realised_names(
    tiny_classifier, tiny_regressor
):
    held = realised.held_out(tiny_classifier)
    assert set(held) == {"accuracy", "f1_macro", "roc_auc"}
    assert held["accuracy"] == tiny_classifier.scores["accuracy"]
    assert realised.held_out(tiny_regressor)["rmse"] == tiny_regressor.scores["rmse"]
    tiny_regressor.scores = {"root_mean_squared_error": -321.0}
    assert realised.held_out(tiny_regressor) == {"rmse": 321.0}


# -- the metric-decline alert -------------------------------------------------


def test_a_decline_alerts_once_and_recovers(
    tiny_classifier, dispatch_into, run_dispatch, actuals_in, penguins_frame
):
    run_dispatch(dispatch_into(tiny_classifier))
    model = tiny_classifier.model
    good = truth_of(penguins_frame, "species")
    bad = truth_of(penguins_frame, "species", wrong_every=2)  # half wrong
    table = actuals_in("demo", bad)
    monitor(model, "demo", f"SELECT * FROM {table}", metric_tolerance=0.05)
    realised.compute(model)

    (finding,) = realised.findings()
    assert finding.key == f"model:{model.pk}:metric_decline"
    assert finding.rule == Rule.METRIC_DECLINE and finding.failing
    held = tiny_classifier.scores["accuracy"]
    assert f"is worse than the held-out {held:.4g} of penguins v1" in finding.detail
    day = RealisedScore.objects.get(scope=MetricScope.DAY)
    assert day.metrics["accuracy"] < 0.6  # every other label swapped
    assert f"realised accuracy {day.metrics['accuracy']:.4g} on 344 rows" in (
        finding.detail
    )

    sent = alerts.evaluate([finding])
    assert [n.state for n in sent] == [NoticeState.FIRED]
    assert alerts.evaluate(realised.findings()) == []  # once until recovery
    state = AlertState.objects.get(key=finding.key)
    assert state.status == AlertStatus.FIRING and state.times_fired == 1

    odbc.execute("demo", f"DELETE FROM {table}")
    odbc.write_table("demo", table, pa.Table.from_pandas(good, preserve_index=False))
    realised.compute(model)
    (finding,) = realised.findings()
    assert not finding.failing and "within tolerance" in finding.detail
    assert [n.state for n in alerts.evaluate([finding])] == [NoticeState.RECOVERED]


def test_the_latest_day_is_what_counts(tiny_classifier):
    model = tiny_classifier.model
    monitor(model, "demo", "SELECT 1", metric_tolerance=0.1)
    held = tiny_classifier.scores["accuracy"]
    for day, accuracy in [
        (dt.date(2026, 11, 1), held - 0.5),
        (dt.date(2026, 11, 2), held),
    ]:
        RealisedScore.objects.create(
            version=tiny_classifier,
            scope=MetricScope.DAY,
            day=day,
            rows_matched=10,
            metrics={"accuracy": accuracy},
        )
    (finding,) = realised.findings()
    assert not finding.failing and finding.detail.startswith("2026-11-02:")
    RealisedScore.objects.filter(day=dt.date(2026, 11, 2)).update(
        state=RealisedState.NO_MATCH
    )
    (finding,) = realised.findings()
    assert finding.failing and finding.detail.startswith("2026-11-01:")


def test_no_score_yet_is_not_a_decline(tiny_classifier):
    monitor(tiny_classifier.model, "demo", "SELECT 1")
    (finding,) = realised.findings()
    assert not finding.failing and finding.detail == "no realised score yet"
    ModelMonitoring.objects.all().update(actuals_query="")
    assert realised.findings() == []  # only models with an actuals query


def test_the_monitor_round_evaluates_the_decline(tiny_classifier, use_config):
    from monitor import services

    use_config(hosts=[])
    monitor(tiny_classifier.model, "demo", "SELECT 1")
    RealisedScore.objects.create(
        version=tiny_classifier,
        scope=MetricScope.DAY,
        day=dt.date(2026, 11, 1),
        rows_matched=10,
        metrics={"accuracy": 0.0},
    )
    services.check_and_alert()
    state = AlertState.objects.get(
        key=f"model:{tiny_classifier.model.pk}:metric_decline"
    )
    assert state.status == AlertStatus.FIRING
    assert state.rule == Rule.METRIC_DECLINE


@pytest.mark.slow
@pytest.mark.parametrize("as_text", [False, True])
def test_many_small_batches_give_the_same_scores_as_one(
    as_text,
    monkeypatch,
    tiny_classifier,
    dispatch_into,
    run_dispatch,
    actuals_in,
    penguins_frame,
):
    run = run_dispatch(dispatch_into(tiny_classifier))
    truth = truth_of(penguins_frame, "species", wrong_every=4)
    types = None
    if as_text:  # the first batch decides how keys compare; the others follow
        truth = truth.assign(id=[f"{i} " for i in truth["id"]])
        types = {"id": "VARCHAR(20)"}
    table = actuals_in("demo", truth, types=types)
    monitor(tiny_classifier.model, "demo", f"SELECT * FROM {table}")
    realised.compute(tiny_classifier.model)
    whole = run_score(run)

    monkeypatch.setattr(realised, "BATCH_ROWS", 50)  # 344 rows: 7 batches
    realised.compute(tiny_classifier.model)
    pieces = run_score(run)

    assert pieces.rows_matched == whole.rows_matched == 344
    assert pieces.metrics == pytest.approx(whole.metrics, abs=1e-12)
