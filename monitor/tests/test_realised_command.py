"""manage.py realised_scores: parse, compute, one line per model, non-zero exit
on failure."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from monitor.models import MetricScope, ModelMonitoring, RealisedScore
from monitor.tests.realised_world import monitor, truth_of

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def run_command(*args) -> str:
    out = io.StringIO()
    call_command("realised_scores", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def scored_world(
    tiny_classifier, dispatch_into, run_dispatch, actuals_in, penguins_frame
):
    run = run_dispatch(dispatch_into(tiny_classifier))
    table = actuals_in("demo", truth_of(penguins_frame, "species"))
    monitor(tiny_classifier.model, "demo", f"SELECT * FROM {table}")
    return run


def test_it_scores_one_model(scored_world):
    out = run_command("--model", "penguins")
    assert out == "penguins: 1 of 1 run(s) scored, 1 day(s)\n"
    score = RealisedScore.objects.get(scope=MetricScope.RUN, run=scored_world)
    assert score.rows_matched == 344


@pytest.mark.slow
def test_it_scores_every_model_with_an_actuals_query(scored_world, tiny_regressor):
    ModelMonitoring.objects.create(model=tiny_regressor.model)  # no query: skipped
    assert run_command() == "penguins: 1 of 1 run(s) scored, 1 day(s)\n"


def test_days_bound_the_runs_scored(scored_world):
    from django.utils import timezone

    from dispatch.models import DispatchRun

    DispatchRun.objects.filter(pk=scored_world.pk).update(
        started=timezone.now() - timezone.timedelta(days=3)
    )
    assert run_command("--days", "2") == "penguins: 0 of 0 run(s) scored, 0 day(s)\n"
    assert run_command("--days", "4").startswith("penguins: 1 of 1 run(s)")


def test_without_any_actuals_query_there_is_nothing_to_do(db):
    assert run_command() == "No model has an actuals query: nothing to score.\n"


def test_a_failed_computation_exits_non_zero(
    tiny_classifier, dispatch_into, run_dispatch
):
    run_dispatch(dispatch_into(tiny_classifier))
    monitor(tiny_classifier.model, "demo", "UPDATE penguins SET year = 1")
    out = io.StringIO()
    with pytest.raises(CommandError, match="Realised scores failed for penguins"):
        call_command("realised_scores", stdout=out)
    assert out.getvalue().startswith(
        "penguins: the actuals query may not run on a read path"
    )


def test_it_refuses_an_unknown_model(db):
    with pytest.raises(CommandError, match="There is no registered model nope"):
        run_command("--model", "nope")


def test_it_refuses_a_model_without_an_actuals_query(tiny_classifier):
    with pytest.raises(CommandError, match="penguins has no actuals query"):
        run_command("--model", "penguins")


def test_it_refuses_days_below_one(db):
    with pytest.raises(CommandError, match="--days must be at least 1"):
        run_command("--days", "0")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, databases=["default", "events"])
def test_it_runs_as_a_process(scored_world, process_env):
    # What cron runs: a real manage.py, its exit code and its one line.
    import subprocess
    import sys

    from conftest import ROOT

    done = subprocess.run(
        [sys.executable, "manage.py", "realised_scores", "--model", "penguins"],
        cwd=ROOT,
        env=process_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "penguins: 1 of 1 run(s) scored, 1 day(s)"


def test_the_monitor_round_scores_models_not_scored_lately(monkeypatch, db):
    import datetime as dt

    from django.utils import timezone

    from monitor import realised
    from monitor.models import ModelMonitoring
    from registry.models import RegisteredModel

    model = RegisteredModel.objects.create(name="scored-lately")
    fresh = ModelMonitoring.objects.create(
        model=model,
        actuals_datasource="demo",
        actuals_query="SELECT 1 AS id, 'x' AS actual",
        realised_checked=timezone.now(),
    )
    other = RegisteredModel.objects.create(name="never-scored")
    ModelMonitoring.objects.create(
        model=other,
        actuals_datasource="demo",
        actuals_query="SELECT 1 AS id, 'x' AS actual",
    )
    seen = []
    monkeypatch.setattr(realised, "compute", lambda m, now=None: seen.append(m.name))
    realised.compute_due()
    assert seen == ["never-scored"]
    later = fresh.realised_checked + realised.RESCORE_AFTER + dt.timedelta(minutes=1)
    seen.clear()
    realised.compute_due(later)
    assert sorted(seen) == ["never-scored", "scored-lately"]


def test_a_model_that_fails_to_score_does_not_stop_the_others(monkeypatch, db):
    from monitor import realised
    from monitor.models import ModelMonitoring
    from registry.models import RegisteredModel

    for name in ("a-broken", "b-fine"):
        ModelMonitoring.objects.create(
            model=RegisteredModel.objects.create(name=name),
            actuals_datasource="demo",
            actuals_query="SELECT 1 AS id, 'x' AS actual",
        )

    def compute(model, now=None):
        if model.name == "a-broken":
            raise RuntimeError("boom")
        return model.name

    monkeypatch.setattr(realised, "compute", compute)
    assert realised.compute_due() == ["b-fine"]
