"""Retraining policies end to end on real data: the champion's query
snapshotted again with :as_of, a real training job, the comparison; the
triggers (by hand, drift alert, metric alert), overlapping triggers, the
minimum interval, and every bad input as a run state with the champion
still serving."""

import datetime as dt
import threading

import pandas as pd
import pytest
from django.db import connections
from django.test import TestCase
from django.utils import timezone

from mlframework.events.models import Event
from mlframework.lib import odbc
from monitor.alerts import Notice, NoticeState, alert_fired
from monitor.models import Rule
from registry import jobs, retraining
from registry.models import Dataset, RetrainPolicy, RetrainRun, TrainingJob
from registry.tests.retrain_world import AS_OF_QUERY, with_days, work_queue

pytestmark = pytest.mark.django_db(databases=["default", "events"])
State = RetrainRun.State
Trigger = RetrainPolicy.Trigger


@pytest.fixture
def cheap_policy(tiny_classifier):
    """Policies on the tiny model (fitted once per session): for the tests
    of triggers, which never run the retrain."""

    def make(**fields):
        values = {
            "model": tiny_classifier.model,
            "name": f"c{RetrainPolicy.objects.count() + 1}",
            "trigger": Trigger.MANUAL,
            "min_interval_minutes": 0,
            **fields,
        }
        return RetrainPolicy.objects.create(**values)

    return make


def fire(policy, kind=Trigger.MANUAL, **kwargs):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return retraining.trigger(policy, kind, **kwargs)


def production(model):
    return model.version_for("production").number


# --- The whole run ------------------------------------------------------------


@pytest.mark.slow
def test_a_retrain_snapshots_the_query_trains_and_proposes(make_policy, query_champion):
    policy = make_policy(data=RetrainPolicy.Data.QUERY)
    when = timezone.make_aware(dt.datetime(2026, 6, 20, 3, 0))
    fired = fire(policy, scheduled_for=when, detail="test")
    assert fired.queued and fired.run.state == State.QUEUED
    ran = work_queue()
    assert ran[0] == "registry.retraining.run_retrain"
    assert "registry.retraining.compare_retrain" in ran
    run = RetrainRun.objects.get(pk=fired.run.pk)
    assert run.state == State.DONE, run.error
    # :as_of was the scheduled date: the first half of the year only.
    assert run.dataset.source == Dataset.Source.QUERY
    assert run.dataset.params == {"as_of": "2026-06-20"}
    assert 0 < run.dataset.rows < query_champion.dataset.rows
    assert run.job.status == TrainingJob.Status.SUCCEEDED
    assert run.version.number == 2 and run.version.dataset == run.dataset
    assert run.champion == query_champion
    assert run.challenge_id is not None
    assert run.active_model is None and run.finished is not None
    # The champion's settings, not the defaults.
    assert run.job.options["excluded"] == ["id", "day"]
    assert run.job.options["fast"] is True and run.job.options["alias"] is None
    kinds = list(
        Event.objects.using("events")
        .filter(data__retrain_run=run.pk)
        .values_list("kind", flat=True)
    )
    assert {"retrain.queued", "retrain.training", "retrain.done"} <= set(kinds)


@pytest.mark.slow
def test_a_challenger_policy_leaves_the_champion_serving(make_policy, query_champion):
    policy = make_policy(action=RetrainPolicy.Action.CHALLENGER)
    fire(policy)
    work_queue()
    run = policy.runs.get()
    assert run.state == State.DONE, run.error
    assert run.outcome in ("pending", "held")
    assert production(query_champion.model) == 1
    assert retraining.rule_for(policy).needs_approval is True


@pytest.mark.slow
def test_a_replace_policy_promotes_a_winner(make_policy, query_champion):
    from registry.models import Challenge

    # Any difference wins: the rule is met, no approval needed.
    policy = make_policy(action=RetrainPolicy.Action.REPLACE, min_improvement=-1.0)
    fire(policy)
    work_queue()
    run = policy.runs.get()
    assert run.state == State.DONE, run.error
    challenge = Challenge.objects.get(pk=run.challenge_id)
    assert challenge.state == Challenge.State.PROMOTED == run.outcome
    assert challenge.champion == query_champion and challenge.challenger == run.version
    assert "retrain run" in challenge.origin
    assert production(query_champion.model) == run.version.number == 2


@pytest.mark.slow
def test_a_replace_policy_holds_a_challenger_that_does_not_win(
    make_policy, query_champion
):
    from registry.models import Challenge

    policy = make_policy(action=RetrainPolicy.Action.REPLACE, min_improvement=0.5)
    fire(policy)
    work_queue()
    run = policy.runs.get()
    assert run.state == State.DONE, run.error
    assert Challenge.objects.get(pk=run.challenge_id).state == Challenge.State.HELD
    assert production(query_champion.model) == 1


@pytest.mark.slow
def test_overrides_replace_the_champions_settings(make_policy, query_champion):
    policy = make_policy(overrides={"time_limit": 20, "seed": 7})
    options_ = retraining.options_for(policy, query_champion)
    assert (options_.time_limit, options_.seed) == (20, 7)
    assert options_.label == "species" and options_.excluded == ["id", "day"]
    assert options_.alias is None


@pytest.mark.slow
def test_a_replace_policy_passes_its_rule(make_policy):
    policy = make_policy(
        action=RetrainPolicy.Action.REPLACE,
        min_improvement=0.01,
        max_fairness_gap_increase=0.05,
    )
    rule = retraining.rule_for(policy)
    assert (rule.min_improvement, rule.max_fairness_gap_increase) == (0.01, 0.05)
    assert rule.needs_approval is False


@pytest.mark.slow
def test_the_latest_upload_of_the_champions_dataset_is_used(
    make_policy, query_champion, penguins_frame, tmp_path
):
    from registry import datasets

    first = tmp_path / "penguins.csv"
    penguins_frame.assign(day="2026-01-01").to_csv(first, index=False)
    older, _ = datasets.store_file(first, name="uploaded")
    second = tmp_path / "penguins2.csv"
    penguins_frame.head(300).assign(day="2026-01-01").to_csv(second, index=False)
    newer, _ = datasets.store_file(second, name="uploaded")
    # The champion trained on the first upload.
    type(query_champion).objects.filter(pk=query_champion.pk).update(dataset=older)
    query_champion.refresh_from_db()
    policy = make_policy(data=RetrainPolicy.Data.UPLOAD)
    fire(policy)
    work_queue()
    run = policy.runs.get()
    assert run.state == State.DONE, run.error
    assert run.dataset == newer


# --- Triggers -------------------------------------------------------------------


def test_overlapping_triggers_give_one_retrain(cheap_policy):
    first = cheap_policy()
    second = cheap_policy()
    queued = fire(first)
    again = fire(first)
    other = fire(second, Trigger.MANUAL)
    assert queued.queued and not again.queued and not other.queued
    assert f"already being retrained (run {queued.run.pk})" in again.run.reason
    assert other.run.state == State.SKIPPED
    assert RetrainRun.objects.filter(state=State.QUEUED).count() == 1


@pytest.mark.django_db(transaction=True, databases=["default", "events"])
def test_two_triggers_at_the_same_moment_give_one_retrain(
    tiny_classifier, cheap_policy, django_db_blocker
):
    policies = [cheap_policy(), cheap_policy()]
    barrier = threading.Barrier(2)
    results = []

    def go(policy):
        try:
            barrier.wait()
            results.append(retraining.trigger(policy, Trigger.MANUAL))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=go, args=(p,)) for p in policies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(f.queued for f in results) == [False, True]
    skipped = next(f.run for f in results if not f.queued)
    assert "already being retrained" in skipped.reason
    assert RetrainRun.objects.exclude(state=State.SKIPPED).count() == 1


def test_the_minimum_interval_is_honoured_and_says_why(cheap_policy):
    policy = cheap_policy(
        trigger=Trigger.SCHEDULE, cron="0 * * * *", min_interval_minutes=120
    )
    start = timezone.now().replace(second=0, microsecond=0)
    first = fire(policy, Trigger.SCHEDULE, scheduled_for=start)
    retraining.cancel(first.run)
    soon = fire(
        policy, Trigger.SCHEDULE, scheduled_for=start + dt.timedelta(minutes=60)
    )
    later = fire(
        policy, Trigger.SCHEDULE, scheduled_for=start + dt.timedelta(minutes=120)
    )
    assert first.queued and not soon.queued and later.queued
    assert "minimum interval of 120 minutes" in soon.run.reason
    assert f"run {first.run.pk}" in soon.run.reason


def test_a_manual_retrain_ignores_the_interval_but_not_a_disabled_trigger(cheap_policy):
    policy = cheap_policy(trigger=Trigger.DRIFT, min_interval_minutes=600)
    first = fire(policy, Trigger.DRIFT)
    retraining.cancel(first.run)
    by_hand = fire(policy, Trigger.MANUAL)
    assert by_hand.queued
    retraining.cancel(by_hand.run)
    policy.enabled = False
    policy.save()
    assert fire(policy, Trigger.DRIFT).run.reason == "the policy is disabled"


def test_a_drift_alert_fires_the_drift_policies_of_its_model(
    cheap_policy, tiny_classifier, django_capture_on_commit_callbacks
):
    from dispatch.models import Dispatch

    drift = cheap_policy(trigger=Trigger.DRIFT)
    cheap_policy(trigger=Trigger.METRIC)
    dispatch = Dispatch.objects.create(
        name="scoring",
        model=tiny_classifier.model,
        source_datasource="demo",
        source_query="SELECT 1",
        sink_datasource="demo",
        sink_table="t",
        cron="5 * * * *",
    )
    notice = Notice(
        state=NoticeState.FIRED,
        key=f"dispatch:{dispatch.pk}:drift",
        rule=Rule.DATASET_DRIFT,
        subject="dispatch scoring",
        detail="",
        at=timezone.now(),
        dispatch_id=dispatch.pk,
    )
    with django_capture_on_commit_callbacks(execute=True):
        alert_fired.send(sender=Notice, notice=notice)
    assert list(RetrainRun.objects.values_list("policy", "trigger")) == [
        (drift.pk, Trigger.DRIFT)
    ]
    assert "dataset_drift" in RetrainRun.objects.get().detail


def test_a_metric_decline_fires_the_metric_policies(cheap_policy, tiny_classifier):
    metric = cheap_policy(trigger=Trigger.METRIC)
    notice = Notice(
        state=NoticeState.FIRED,
        key=f"model:{tiny_classifier.model.pk}:metric_decline",
        rule=Rule.METRIC_DECLINE,
        subject="model penguins",
        detail="",
        at=timezone.now(),
    )
    alert_fired.send(sender=Notice, notice=notice)
    assert RetrainRun.objects.get().policy == metric


def test_other_alerts_fire_nothing(cheap_policy, tiny_classifier):
    cheap_policy(trigger=Trigger.DRIFT)
    notice = Notice(
        state=NoticeState.FIRED,
        key="host:web",
        rule=Rule.HOST_DOWN,
        subject="host web",
        detail="",
        at=timezone.now(),
    )
    alert_fired.send(sender=Notice, notice=notice)
    assert not RetrainRun.objects.exists()


# --- Bad input: a clear state, the tiny_classifier keeps serving ----------------------


def _run_to_end(policy):
    fire(policy)
    work_queue()
    run = policy.runs.get()
    assert run.active_model is None and run.finished is not None
    assert production(policy.model) == 1
    return run


def _point_at(champion, make_table, frame):
    """Make the champion's query read `frame` from now on."""
    table = make_table(frame)
    Dataset.objects.filter(pk=champion.dataset_id).update(
        query=AS_OF_QUERY.format(table=table)
    )


@pytest.mark.slow
def test_a_query_without_the_label_column_fails_clearly(
    make_policy, query_champion, retrain_tables, penguins_frame
):
    _point_at(
        query_champion,
        retrain_tables,
        with_days(penguins_frame).drop(columns=["species"]),
    )
    run = _run_to_end(make_policy())
    assert run.state == State.FAILED
    assert "has no column species, the label of penguins v1" in run.error
    assert run.job is None


@pytest.mark.slow
def test_zero_rows_fail_clearly(
    make_policy, query_champion, retrain_tables, penguins_frame
):
    frame = with_days(penguins_frame)
    frame["day"] = "2027-01-01"  # after every :as_of of this test
    _point_at(query_champion, retrain_tables, frame)
    when = timezone.make_aware(dt.datetime(2026, 12, 1))
    fire(make_policy(), scheduled_for=when)
    work_queue()
    run = RetrainRun.objects.get()
    assert run.state == State.FAILED
    assert "row" in run.error.lower() and run.job is None
    assert production(query_champion.model) == 1


@pytest.mark.slow
def test_a_label_whose_type_changed_fails_clearly(
    make_policy, query_champion, retrain_tables, penguins_frame
):
    frame = with_days(penguins_frame)
    frame["species"] = penguins_frame["body_mass_g"].astype(float) + 0.5
    _point_at(query_champion, retrain_tables, frame)
    run = _run_to_end(make_policy())
    assert run.state == State.FAILED
    assert "label species" in run.error and "penguins v1" in run.error
    assert run.job is None


@pytest.mark.slow
def test_an_unreachable_datasource_fails_clearly(make_policy, query_champion):
    Dataset.objects.filter(pk=query_champion.dataset_id).update(datasource="gone")
    run = _run_to_end(make_policy())
    assert run.state == State.FAILED
    assert "gone is not a configured datasource" in run.error


@pytest.mark.slow
def test_a_dropped_table_fails_clearly(make_policy, query_champion, retrain_source):
    odbc.execute("demo", f"DROP TABLE {retrain_source}")
    run = _run_to_end(make_policy())
    assert run.state == State.FAILED and run.error
    assert retrain_source in run.error or "no such table" in run.error.lower()


@pytest.mark.slow
def test_a_failing_training_job_fails_the_run(make_policy, query_champion, monkeypatch):
    fire(make_policy())
    work_queue_until_training()
    run = RetrainRun.objects.get()
    assert run.state == State.TRAINING
    # The dataset file vanishes before the worker reads it: the job fails.
    from registry import datasets

    datasets.path_of(run.dataset).unlink()
    work_queue()
    run.refresh_from_db()
    assert run.job.status == TrainingJob.Status.FAILED
    assert run.state == State.FAILED
    assert f"training job {run.job.pk} failed" in run.error
    assert production(query_champion.model) == 1


@pytest.mark.slow
def test_a_cancelled_training_job_cancels_the_run(make_policy, query_champion):
    fire(make_policy())
    work_queue_until_training()
    run = RetrainRun.objects.get()
    jobs.cancel(run.job)
    work_queue()
    run.refresh_from_db()
    assert run.state == State.CANCELLED
    assert f"training job {run.job.pk} was cancelled" in run.error
    assert run.active_model is None and production(query_champion.model) == 1


def test_cancelling_a_queued_run_frees_the_model(cheap_policy):
    policy = cheap_policy()
    first = fire(policy)
    retraining.cancel(first.run)
    assert RetrainRun.objects.get(pk=first.run.pk).state == State.CANCELLED
    assert fire(policy).queued
    with pytest.raises(retraining.RetrainError, match="already ended"):
        retraining.cancel(RetrainRun.objects.get(pk=first.run.pk))


@pytest.mark.slow
def test_a_model_without_the_alias_fails_clearly(make_policy):
    run = _fail_with(make_policy(alias="staging"))
    assert "has no alias 'staging'" in run.error


def _fail_with(policy):
    fire(policy)
    work_queue()
    run = policy.runs.get()
    assert run.state == State.FAILED
    return run


def work_queue_until_training():
    """Run the retrain task only: the run is left training, its job queued."""
    from django_tasks_db.models import DBTaskResult

    task = DBTaskResult.objects.ready().get(task_path="registry.retraining.run_retrain")
    task.claim("test")
    task.set_successful(retraining.run(*task.task_result.args))


@pytest.mark.slow
def test_an_upload_champion_refuses_the_query_data(
    make_policy, query_champion, tmp_path
):
    from registry import datasets

    path = tmp_path / "p.csv"
    pd.DataFrame({"species": ["a", "b"] * 20, "x": range(40)}).to_csv(path, index=False)
    upload, _ = datasets.store_file(path)
    type(query_champion).objects.filter(pk=query_champion.pk).update(dataset=upload)
    run = _fail_with(make_policy(data=RetrainPolicy.Data.QUERY))
    assert "not a query" in run.error and "latest upload" in run.error


def test_check_policy_names_the_field():
    policy = RetrainPolicy(trigger=Trigger.SCHEDULE, cron="61 * * * *")
    with pytest.raises(retraining.RetrainError) as caught:
        retraining.check_policy(policy)
    assert caught.value.field == "cron"
    policy = RetrainPolicy(trigger=Trigger.MANUAL, overrides={"label": "x"})
    with pytest.raises(retraining.RetrainError, match="label cannot be overridden"):
        retraining.check_policy(policy)


@pytest.mark.slow
def test_snapshot_contract_records_the_query(query_champion):
    assert query_champion.dataset.source == Dataset.Source.QUERY
    assert query_champion.dataset.datasource == "demo"
    assert ":as_of" in query_champion.dataset.query


@pytest.mark.slow
def test_a_real_drifting_dispatch_fires_a_drift_retrain(
    make_policy, query_champion, retrain_tables, penguins_frame
):
    from dispatch import runner
    from dispatch.models import Dispatch, RunStatus
    from monitor.models import AlertState, AlertStatus
    from monitor.tests.test_drift_runs import shifted

    policy = make_policy(trigger=Trigger.DRIFT, min_interval_minutes=60)
    source = retrain_tables(shifted(penguins_frame).drop(columns=["species"]))
    dispatch = Dispatch.objects.create(
        name="scoring",
        model=query_champion.model,
        source_datasource="demo",
        source_query=f"SELECT * FROM {source}",
        sink_datasource="demo",
        sink_table=f"sink_{source}",
        key_columns=["id"],
        chunk_size=100,
        cron="5 * * * *",
    )
    retrain_tables.drop_later(f"sink_{source}")
    with TestCase.captureOnCommitCallbacks(execute=True):
        done = runner.run_scheduled(dispatch.pk)
    assert done.status == RunStatus.SUCCEEDED, done.error
    state = AlertState.objects.get(key=f"dispatch:{dispatch.pk}:drift")
    assert state.status == AlertStatus.FIRING
    run = policy.runs.get()
    assert run.trigger == Trigger.DRIFT and run.state == State.QUEUED
    assert "dataset_drift" in run.detail
    work_queue()
    run.refresh_from_db()
    assert run.state == State.DONE, run.error
    assert run.version.number == 2 and run.challenge_id
    # The champion kept serving the dispatch meanwhile; the challenger waits.
    assert production(query_champion.model) == 1
