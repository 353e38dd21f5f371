"""Dispatch runs and challengers: a run follows the alias a promotion or a
rollback moved, and a shadowing challenger predicts in the same pass without
writing to the sink (registry/challengers.py, registry/shadow.py)."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth.models import Group

from dispatch import runner
from dispatch.models import RunStatus
from dispatch.tests.conftest import sink_count, sink_rows
from mlframework.events.models import Event
from registry import challengers, services
from registry.challengers import PromotionRule
from registry.models import ShadowRun
from registry.tests import challenger_world as world
from registry.tests.helpers import train_tiny

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def weak(registered_model, penguins_frame):
    return world.train_weak(penguins_frame, world.penguins_dataset())


@pytest.fixture
def strong(weak, penguins_frame):
    return world.train_strong(penguins_frame, weak.dataset)


@pytest.fixture
def approver(db, django_user_model):
    user = django_user_model.objects.create_user(username="apollo", password="x")
    user.groups.add(Group.objects.get(name="approver"))
    return user


@pytest.fixture
def scoring(weak, make_dispatch, source_table, tables):
    def make(frame=None, **fields):
        values = {
            "model": weak.model,
            "source_datasource": "demo",
            "source_query": f"SELECT * FROM {source_table('demo', frame)}",
            "sink_datasource": "demo",
            "sink_table": tables("demo", "sink"),
            "key_columns": ["id"],
            "chunk_size": 100,
        }
        values.update(fields)
        return make_dispatch(**values)

    return make


def run_rows(dispatch, run) -> list[dict]:
    return [r for r in sink_rows("demo", dispatch.sink_table) if r["run_id"] == run.pk]


@pytest.mark.slow
def test_a_dispatch_uses_the_promoted_version_from_its_next_run(
    scoring, weak, strong, approver
):
    dispatch = scoring()
    first = runner.run_scheduled(dispatch.pk)
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert first.model_version == weak
    challenge = challengers.propose(strong, origin="test")
    assert challenge.promoted
    second = runner.run_scheduled(dispatch.pk)
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert second.model_version == strong
    rows = run_rows(dispatch, second)
    assert len(rows) == 344 and {r["model_version"] for r in rows} == {"penguins v2"}
    challengers.rollback(weak.model, user=approver, reason="test")
    third = runner.run_scheduled(dispatch.pk)
    assert third.model_version == weak
    assert {r["model_version"] for r in run_rows(dispatch, third)} == {"penguins v1"}


def test_a_held_challenger_leaves_the_dispatch_on_the_champion(scoring, weak, strong):
    dispatch = scoring()
    challengers.propose(strong, rule=PromotionRule(min_improvement=0.9))
    run = runner.run_scheduled(dispatch.pk)
    assert run.model_version == weak


@pytest.mark.slow
def test_shadow_scoring_writes_nothing_extra_to_the_sink(
    scoring, weak, strong, penguins_frame
):
    dispatch = scoring()
    challenge = challengers.propose(
        strong, rule=PromotionRule(needs_approval=True), shadow_runs=1
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.model_version == weak and run.rows_written == 344
    assert sink_count("demo", dispatch.sink_table) == 344
    rows = sink_rows("demo", dispatch.sink_table)
    source = penguins_frame.drop(columns=["species"])
    # The key and what the runner adds, as without a shadow: no challenger column.
    assert set(rows[0]) == {"id", *runner.RESERVED}
    champion = services.predict(weak, source)["prediction"].tolist()
    assert [r["prediction"] for r in rows] == champion  # the champion's only
    shadow = ShadowRun.objects.get(challenge=challenge)
    assert shadow.dispatch_run_id == run.pk and shadow.rows == 344
    assert shadow.dispatch_name == dispatch.name and shadow.error == ""
    challenger = services.predict(strong, source)["prediction"].to_numpy()
    assert shadow.agreement == pytest.approx(
        np.mean(np.asarray(champion) == challenger)
    )
    assert 0.5 < shadow.agreement < 1.0  # they differ: the challenger really ran
    summary = shadow.summary
    assert sum(summary["champion"]["labels"].values()) == 344
    assert summary["challenger"]["labels"] == {
        str(k): int(v)
        for k, v in zip(*np.unique(challenger, return_counts=True), strict=True)
    }
    event = Event.objects.using("events").get(kind="challenge.shadowed")
    assert event.dispatch_run_id == run.pk and event.model_version_id == strong.pk
    # One shadowed run was asked for: the next run predicts alone.
    challenge.refresh_from_db()
    assert challenge.shadow_left == 0
    again = runner.run_scheduled(dispatch.pk)
    assert again.status == RunStatus.SUCCEEDED
    assert ShadowRun.objects.filter(challenge=challenge).count() == 1


def test_a_failing_shadow_never_fails_the_run(scoring, weak, strong, penguins_frame):
    # The weak champion needs island and sex only; the challenger cannot
    # predict without the measurements.
    source = penguins_frame.drop(columns=["species", "bill_length_mm"])
    dispatch = scoring(frame=source)
    challenge = challengers.propose(
        strong, rule=PromotionRule(needs_approval=True), shadow_runs=2
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert sink_count("demo", dispatch.sink_table) == 344
    shadow = ShadowRun.objects.get(challenge=challenge)
    assert "bill_length_mm" in shadow.error and shadow.agreement is None


@pytest.mark.slow
def test_a_regression_shadow_records_the_mean_absolute_difference(
    registered_model, make_dispatch, source_table, tables, penguins_frame
):
    dataset = world.penguins_dataset()
    excluded = ["id", "species", "island", "bill_length_mm", "flipper_length_mm"]
    old = world.with_dataset(
        train_tiny(penguins_frame, "body_mass_g", "mass", excluded=excluded),
        dataset,
    )
    new = world.with_dataset(
        train_tiny(penguins_frame, "body_mass_g", "mass", alias=None), dataset
    )
    challenge = challengers.propose(
        new,
        rule=PromotionRule(min_improvement=-1e9, needs_approval=True),
        shadow_runs=1,
    )
    source = penguins_frame.drop(columns=["body_mass_g"])
    dispatch = make_dispatch(
        model=old.model,
        source_datasource="demo",
        source_query=f"SELECT * FROM {source_table('demo', source)}",
        sink_datasource="demo",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
        chunk_size=100,
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    shadow = ShadowRun.objects.get(challenge=challenge)
    a = services.predict(old, source)["prediction"].to_numpy(dtype=float)
    b = services.predict(new, source)["prediction"].to_numpy(dtype=float)
    assert shadow.mean_abs_difference == pytest.approx(np.mean(np.abs(a - b)))
    assert shadow.summary["challenger"]["mean"] == pytest.approx(b.mean())
    assert shadow.agreement is None
