"""Realised metrics of a shadow: real dispatch runs of the champion with a
pending challenger shadowing them, both predictions kept per row in a Parquet
file (never in the sink), joined to a real actuals table by
monitor.realised.compute and scored on the same matched rows as the
champion; the file goes once the challenge is decided; bad input is a state
and a reason on the shadow, never the champion's failure."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pandas as pd
import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from sklearn import metrics as skm

from conftest import require_datasource
from dispatch import runner
from dispatch.models import DispatchRun, RunStatus
from mlframework.core import retention
from mlframework.lib import odbc
from monitor import realised
from monitor.models import MetricScope, RealisedScore, RealisedState
from monitor.tests.realised_world import monitor, sink_frame, truth_of
from registry import challengers, services, shadow
from registry.challengers import PromotionRule
from registry.models import Challenge, ShadowRun
from registry.templatetags.registry_tags import score
from registry.tests import challenger_world as world
from registry.tests.helpers import train_tiny

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture(autouse=True)
def _own_shadow_folder(settings, tmp_path):
    paths = replace(settings.CONFIG.paths, shadow=str(tmp_path / "shadow"))
    settings.CONFIG = replace(settings.CONFIG, paths=paths)


@pytest.fixture
def weak(db, penguins_frame):
    return world.train_weak(penguins_frame, world.penguins_dataset())


@pytest.fixture
def strong(weak, penguins_frame):
    return world.train_strong(penguins_frame, weak.dataset)


@pytest.fixture
def pending(strong):
    return challengers.propose(
        strong, rule=PromotionRule(needs_approval=True), shadow_runs=2
    )


@pytest.fixture
def approver(db, django_user_model):
    user = django_user_model.objects.create_user(username="apollo", password="x")
    user.groups.add(Group.objects.get(name="approver"))
    return user


@pytest.fixture
def shadowed(weak, pending, dispatch_into, run_dispatch):
    """A dispatch of the champion run twice with the challenger shadowing."""

    def make(datasource: str = "demo", **fields):
        dispatch = dispatch_into(weak, datasource, **fields)
        runs = [run_dispatch(dispatch), run_dispatch(dispatch)]
        return dispatch, runs

    return make


# The truth for 300 of the 344 penguins, every 7th label swapped.
def the_truth(penguins_frame) -> pd.DataFrame:
    return truth_of(penguins_frame, "species", wrong_every=7).head(300)


def with_actuals(model, datasource, make_table, truth, **fields):
    table = make_table(datasource, truth)
    monitor(model, datasource, f"SELECT id, actual FROM {table}", **fields)


def shadows_of(challenge) -> list[ShadowRun]:
    return list(ShadowRun.objects.filter(challenge=challenge).order_by("pk"))


def on_the_truth(version, penguins_frame, truth) -> pd.DataFrame:
    """sklearn's view: the version's predictions of every penguin, joined to
    the truth by a plain pandas merge on id."""
    source = penguins_frame.drop(columns=["species"])
    predicted = services.predict(version, source, probabilities=True)
    frame = pd.DataFrame(
        {"id": source["id"].astype("int64"), "prediction": predicted["prediction"]}
    )
    for label in version.classes:
        frame[f"proba_{label}"] = predicted[f"proba_{label}"].to_numpy()
    return frame.merge(truth.assign(id=truth["id"].astype("int64")), on="id")


def run_score(run) -> RealisedScore:
    return RealisedScore.objects.get(scope=MetricScope.RUN, run=run)


# -- the join and its metrics ----------------------------------------------------


@pytest.mark.slow
def test_the_shadow_is_scored_on_the_champions_matched_rows(
    shadowed, weak, strong, pending, penguins_frame, actuals_in
):
    _, runs = shadowed()
    truth = the_truth(penguins_frame)
    with_actuals(weak.model, "demo", actuals_in, truth)

    computation = realised.compute(weak.model)

    assert computation.ok, computation.error
    joined = on_the_truth(strong, penguins_frame, truth)
    want = skm.accuracy_score(joined["actual"], joined["prediction"])
    items = shadows_of(pending)
    assert [i.dispatch_run_id for i in items] == [r.pk for r in runs]
    for item, run in zip(items, runs, strict=True):
        assert item.realised_state == ShadowRun.Realised.SCORED, item.realised_reason
        assert item.realised_rows == 300 == len(joined)
        challenger = item.realised["challenger"]
        assert challenger["accuracy"] == pytest.approx(want, abs=1e-12)
        assert challenger["f1_macro"] == pytest.approx(
            skm.f1_score(joined["actual"], joined["prediction"], average="macro"),
            abs=1e-12,
        )
        assert challenger["roc_auc"] == pytest.approx(
            skm.roc_auc_score(
                joined["actual"],
                joined[[f"proba_{c}" for c in strong.classes]].to_numpy("float64"),
                multi_class="ovr",
                average="macro",
                labels=strong.classes,
            ),
            abs=1e-12,
        )
        score = run_score(run)
        assert score.state == RealisedState.SCORED and score.rows_matched == 300
        assert set(item.realised["champion"]) == set(score.metrics)
        for name, value in score.metrics.items():
            assert item.realised["champion"][name] == pytest.approx(value, abs=1e-12)
        assert item.realised_computed is not None
    # The challenger really is another model: its accuracy is not the champion's.
    assert items[0].realised["challenger"]["accuracy"] > (
        items[0].realised["champion"]["accuracy"] + 0.05
    )
    overall = shadow.overall(items)
    assert overall["runs"] == 2 and overall["rows_matched"] == 600
    assert overall["challenger"]["accuracy"] == pytest.approx(want, abs=1e-12)
    assert overall["pairs"][0][0] == "accuracy"


def test_nothing_of_the_shadow_is_in_the_sink(shadowed, pending, strong):
    dispatch, runs = shadowed()
    sink = sink_frame("demo", dispatch.sink_table)
    assert len(sink) == 688 and sorted(set(sink["run_id"])) == [r.pk for r in runs]
    probas = {runner.sink_column(f"proba_{c}") for c in strong.classes}
    assert set(sink.columns) == {"id", *runner.RESERVED, *probas}
    for item in shadows_of(pending):
        stored = pq.read_table(shadow.predictions_path(item))
        assert stored.num_rows == 344
        assert {"id", "__champion__prediction", "__challenger__prediction"} <= set(
            stored.column_names
        )
        assert item.predictions_file == f"{pending.pk}/{item.dispatch_run_id}.parquet"


@pytest.mark.slow
def test_a_regression_shadow_gets_rmse_and_mae(
    penguins_frame, dispatch_into, run_dispatch, actuals_in
):
    dataset = world.penguins_dataset()
    excluded = ["id", "species", "island", "bill_length_mm", "flipper_length_mm"]
    old = world.with_dataset(
        train_tiny(penguins_frame, "body_mass_g", "mass", excluded=excluded), dataset
    )
    new = world.with_dataset(
        train_tiny(penguins_frame, "body_mass_g", "mass", alias=None), dataset
    )
    challenge = challengers.propose(
        new,
        rule=PromotionRule(min_improvement=-1e9, needs_approval=True),
        shadow_runs=1,
    )
    run = run_dispatch(dispatch_into(old, include_probabilities=False))
    truth = penguins_frame[["id", "body_mass_g"]].dropna()
    truth = truth.rename(columns={"body_mass_g": "actual"})
    with_actuals(old.model, "demo", actuals_in, truth)
    realised.compute(old.model)
    (item,) = shadows_of(challenge)
    assert item.realised_state == ShadowRun.Realised.SCORED, item.realised_reason
    source = penguins_frame.drop(columns=["body_mass_g"])
    joined = pd.DataFrame(
        {"id": source["id"], "prediction": services.predict(new, source)["prediction"]}
    ).merge(truth, on="id")
    assert item.realised["challenger"]["mae"] == pytest.approx(
        skm.mean_absolute_error(
            joined["actual"].astype("float64"), joined["prediction"].astype("float64")
        ),
        abs=1e-9,
    )
    # The sink gives its REAL column back in single precision; the file keeps
    # the model's numbers as they were.
    assert item.realised["champion"]["rmse"] == pytest.approx(
        run_score(run).metrics["rmse"], rel=1e-6
    )


# -- the file's life -------------------------------------------------------------


@pytest.mark.slow
def test_the_file_goes_once_the_challenge_is_decided(
    shadowed, weak, pending, penguins_frame, actuals_in, approver
):
    shadowed()
    with_actuals(weak.model, "demo", actuals_in, the_truth(penguins_frame))
    realised.compute(weak.model)
    paths = [shadow.predictions_path(i) for i in shadows_of(pending)]
    assert all(p.exists() for p in paths)  # pending: kept for later actuals

    challengers.reject(pending, user=approver, reason="not better enough")
    realised.compute(weak.model)

    assert not any(p.exists() for p in paths)
    assert not paths[0].parent.exists()
    for item in shadows_of(pending):
        assert item.predictions_file == ""
        # The figures of the last computation stay.
        assert item.realised_state == ShadowRun.Realised.SCORED
        assert item.realised_rows == 300 and item.realised["challenger"]
    realised.compute(weak.model)  # nothing left to score or remove: no change
    assert shadows_of(pending)[0].realised_state == ShadowRun.Realised.SCORED


def test_the_retention_prune_removes_the_files_of_old_shadows(
    shadowed, pending, settings
):
    shadowed()
    first, second = shadows_of(pending)
    ShadowRun.objects.filter(pk=first.pk).update(
        created=first.created
        - dt.timedelta(days=settings.CONFIG.retention.runs_days + 1)
    )
    paths = [shadow.predictions_path(first), shadow.predictions_path(second)]
    result = retention.prune()
    assert result.counts["shadow prediction files"] == 1
    assert not paths[0].exists() and paths[1].exists()
    first.refresh_from_db()
    assert first.predictions_file == "" and first.agreement is not None


def test_a_failed_run_leaves_no_file(weak, pending, dispatch_into, monkeypatch):
    dispatch = dispatch_into(weak)
    # The sink table exists without the columns the run writes: the write
    # fails after every batch was predicted (and shadowed).
    odbc.execute("demo", f"CREATE TABLE {dispatch.sink_table} (other INTEGER)")
    seen = []
    monkeypatch.setattr(shadow._Store, "remove", _spy(shadow._Store.remove, seen))
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.FAILED
    assert seen == [True]  # the file was written, then removed
    assert not ShadowRun.objects.exists()
    assert not any(shadow.folder().rglob("*.parquet"))


def _spy(method, seen):
    def spied(self):
        seen.append(self.path.exists())
        return method(self)

    return spied


# -- bad input -------------------------------------------------------------------


def test_without_an_actuals_query_the_shadow_says_so(shadowed, weak, pending):
    shadowed()
    with pytest.raises(realised.RealisedError):
        realised.compute(weak.model)
    for item in shadows_of(pending):
        assert item.realised_state == ShadowRun.Realised.FAILED
        assert "has no actuals query" in item.realised_reason


def test_a_dispatch_without_key_columns_keeps_no_file(
    shadowed, weak, pending, penguins_frame, actuals_in
):
    shadowed(key_columns=[])
    with_actuals(weak.model, "demo", actuals_in, the_truth(penguins_frame))
    realised.compute(weak.model)
    for item in shadows_of(pending):
        assert item.predictions_file == "" and item.agreement is not None
        assert item.realised_state == ShadowRun.Realised.FAILED
        assert "writes no key columns" in item.realised_reason
    assert not any(shadow.folder().rglob("*.parquet"))


@pytest.mark.slow
def test_keys_that_match_nothing_are_no_match(
    shadowed, weak, pending, penguins_frame, actuals_in
):
    _, runs = shadowed()
    truth = the_truth(penguins_frame)
    with_actuals(weak.model, "demo", actuals_in, truth.assign(id=truth["id"] + 10_000))
    realised.compute(weak.model)
    assert run_score(runs[0]).state == RealisedState.NO_MATCH
    for item in shadows_of(pending):
        assert item.realised_state == ShadowRun.Realised.NO_MATCH
        assert "no key matched" in item.realised_reason
        assert item.realised_rows == 0


@pytest.mark.slow
def test_a_missing_file_is_named_and_the_champion_still_scored(
    shadowed, weak, pending, penguins_frame, actuals_in
):
    _, runs = shadowed()
    first, second = shadows_of(pending)
    path = shadow.predictions_path(first)
    path.unlink()
    with_actuals(weak.model, "demo", actuals_in, the_truth(penguins_frame))
    computation = realised.compute(weak.model)
    assert computation.ok
    assert all(run_score(r).state == RealisedState.SCORED for r in runs)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.realised_state == ShadowRun.Realised.FAILED
    assert first.realised_reason == f"the shadow's predictions file {path} is missing"
    assert second.realised_state == ShadowRun.Realised.SCORED


@pytest.mark.slow
def test_a_file_that_is_no_parquet_is_named(
    shadowed, weak, pending, penguins_frame, actuals_in
):
    shadowed()
    first = shadows_of(pending)[0]
    shadow.predictions_path(first).write_text("not parquet")
    with_actuals(weak.model, "demo", actuals_in, the_truth(penguins_frame))
    assert realised.compute(weak.model).ok
    first.refresh_from_db()
    assert first.realised_state == ShadowRun.Realised.FAILED
    assert "cannot be read" in first.realised_reason


def test_a_broken_actuals_query_fails_the_shadows_too(shadowed, weak, pending):
    shadowed()
    monitor(weak.model, "demo", "SELECT id, actual FROM no_such_table")
    computation = realised.compute(weak.model)
    assert "no_such_table" in computation.error
    for item in shadows_of(pending):
        assert item.realised_state == ShadowRun.Realised.FAILED
        assert item.realised_reason == computation.error


@pytest.mark.slow
def test_other_actuals_keys_than_the_stored_ones_are_named(
    shadowed, weak, pending, penguins_frame, actuals_in
):
    shadowed()
    truth = the_truth(penguins_frame).assign(run_key="x")
    table = actuals_in("demo", truth)
    monitor(
        weak.model,
        "demo",
        f"SELECT * FROM {table}",
        actuals_key_columns=["id", "run_key"],
    )
    realised.compute(weak.model)
    item = shadows_of(pending)[0]
    assert item.realised_state == ShadowRun.Realised.FAILED
    assert "hold no key column run_key" in item.realised_reason


def test_a_shadow_that_failed_in_its_run_says_so(
    weak, strong, pending, dispatch_into, run_dispatch, penguins_frame, actuals_in
):
    dispatch = dispatch_into(weak)
    # The challenger needs the measurements; a source without one fails it only.
    table = dispatch.source_query.split()[-1]
    columns = "id, island, bill_depth_mm, flipper_length_mm, body_mass_g, sex, year"
    dispatch.source_query = f"SELECT {columns} FROM {table}"
    dispatch.save(update_fields=["source_query"])
    run_dispatch(dispatch)
    with_actuals(weak.model, "demo", actuals_in, the_truth(penguins_frame))
    realised.compute(weak.model)
    (item,) = shadows_of(pending)
    assert item.predictions_file == "" and "bill_length_mm" in item.error
    assert item.realised_state == ShadowRun.Realised.FAILED
    assert item.realised_reason.startswith("the challenger failed in this run")
    assert not any(shadow.folder().rglob("*.parquet"))


# -- the challenge page and the API ------------------------------------------------


@pytest.mark.slow
def test_the_challenge_page_shows_both_realised_metrics(
    shadowed, weak, pending, penguins_frame, actuals_in, viewer_client
):
    shadowed()
    with_actuals(weak.model, "demo", actuals_in, the_truth(penguins_frame))
    realised.compute(weak.model)
    url = reverse("registry:challenge", args=["penguins", pending.pk])
    response = viewer_client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="shadow-realised"' in page
    assert 'data-testid="shadow-realised-overall"' in page
    overall = response.context["shadow_realised"]
    assert overall["rows_matched"] == 600
    name, champion, challenger = overall["pairs"][0]
    assert name == "accuracy"
    assert score(champion) in page and score(challenger) in page
    assert "Overall (2 runs)" in page


def test_the_page_says_when_nothing_is_computed_yet(shadowed, pending, viewer_client):
    shadowed()
    page = viewer_client.get(
        reverse("registry:challenge", args=["penguins", pending.pk])
    ).content.decode()
    assert "Not computed yet" in page
    assert 'data-testid="shadow-realised-overall"' not in page


@pytest.mark.slow
def test_the_api_detail_has_the_realised_metrics(
    shadowed, weak, pending, penguins_frame, actuals_in, viewer
):
    _, runs = shadowed()
    with_actuals(weak.model, "demo", actuals_in, the_truth(penguins_frame))
    realised.compute(weak.model)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=viewer).key}"
    )
    detail = client.get(f"/api/registry/models/penguins/challenges/{pending.pk}/")
    assert detail.status_code == 200
    body = detail.json()
    first = next(s for s in body["shadows"] if s["dispatch_run"] == runs[0].pk)
    assert first["realised"]["state"] == "scored"
    assert first["realised"]["rows_matched"] == 300
    assert first["realised"]["challenger"]["accuracy"] > 0.5
    assert body["shadow_realised"]["rows_matched"] == 600


# -- MariaDB ---------------------------------------------------------------------


@pytest.mark.slow
def test_it_joins_on_mariadb(
    shadowed, weak, strong, pending, penguins_frame, actuals_in
):
    require_datasource("mariadb")
    _, runs = shadowed("mariadb")
    truth = the_truth(penguins_frame)
    with_actuals(weak.model, "mariadb", actuals_in, truth)
    assert realised.compute(weak.model).ok
    joined = on_the_truth(strong, penguins_frame, truth)
    want = skm.accuracy_score(joined["actual"], joined["prediction"])
    for item, run in zip(shadows_of(pending), runs, strict=True):
        assert item.realised_state == ShadowRun.Realised.SCORED, item.realised_reason
        assert item.realised["challenger"]["accuracy"] == pytest.approx(want, abs=1e-12)
        assert item.realised["champion"]["accuracy"] == pytest.approx(
            run_score(run).metrics["accuracy"], abs=1e-12
        )
    assert DispatchRun.objects.count() == 2
    assert Challenge.objects.get().state == Challenge.State.PENDING
