"""monitor.drift.pages on its own: distributions from a report's bins, heat
levels from score and threshold, summaries and refused lookups."""

import pytest

from monitor.drift import pages
from monitor.drift.report import DriftReport, FeatureDrift
from monitor.tests.drift_runs import shifted, stored_run

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def numeric(**fields) -> FeatureDrift:
    values = {
        "name": "amount",
        "kind": "numeric",
        "method": "wasserstein",
        "score": 0.05,
        "threshold": 0.1,
        "bins": {
            "edges": [0.0, 1.0, 2.5, 4.0],
            "reference": [2, 6, 2],
            "current": [0, 5, 5],
        },
    }
    values.update(fields)
    return FeatureDrift(**values)


def test_a_numeric_distribution_is_shares_per_bin_between_the_edges():
    found = pages.distribution(numeric())
    assert found.labels == ("0 to 1", "1 to 2.5", "2.5 to 4")
    assert found.reference == (0.2, 0.6, 0.2)
    assert found.current == (0.0, 0.5, 0.5)
    assert found.chart() == {
        "labels": ["0 to 1", "1 to 2.5", "2.5 to 4"],
        "reference": [0.2, 0.6, 0.2],
        "current": [0.0, 0.5, 0.5],
    }


def test_a_categorical_distribution_keeps_its_labels_and_note():
    item = FeatureDrift(
        name="region",
        kind="categorical",
        bins={
            "labels": ["north", "other"],
            "reference": [3, 1],
            "current": [0, 4],
            "note": "only unseen categories",
        },
    )
    found = pages.distribution(item)
    assert found.labels == ("north", "other")
    assert found.current == (0.0, 1.0) and found.note == "only unseen categories"


@pytest.mark.parametrize(
    "bins",
    [
        {},
        {"edges": [0.0, 1.0], "reference": [1, 2], "current": [1]},
        {"labels": ["a"], "reference": [1, 2], "current": [1, 2]},
    ],
)
def test_missing_or_inconsistent_bins_give_no_distribution(bins):
    assert pages.distribution(numeric(bins=bins)) is None


def test_a_constant_column_has_one_labelled_bin():
    found = pages.distribution(
        numeric(bins={"edges": [3.0], "reference": [10], "current": [4]})
    )
    assert found.labels == ("3",) and found.current == (1.0,)


@pytest.mark.parametrize(
    ("fields", "level"),
    [
        ({"score": 0.02, "drifted": False}, "calm"),
        ({"score": 0.07, "drifted": False}, "near"),
        ({"score": 0.15, "drifted": True}, "drift"),
        ({"score": 0.5, "drifted": True}, "strong"),
        ({"method": "ks", "score": 0.9, "threshold": 0.05}, "calm"),
        ({"method": "ks", "score": 0.08, "threshold": 0.05}, "near"),
        ({"method": "ks", "score": 0.04, "drifted": True, "threshold": 0.05}, "drift"),
        ({"method": "ks", "score": 1e-30, "drifted": True}, "strong"),
        ({"state": "all missing", "score": None}, "none"),
    ],
)
def test_heat_levels_follow_score_and_threshold(fields, level):
    run = pages.RunReport(
        run_id=1,
        version_id=1,
        dispatch_id=1,
        created=None,
        state="checked",
        reason="",
        rows=10,
        drift_share=0.0,
        dataset_drift=False,
        prediction_drift=False,
        drifted=(),
        important_drifted=(),
        seconds=0.0,
    )
    cell = pages._cell(run, numeric(**fields))
    assert cell.level == level
    if level == "none":
        assert cell.title == "not checked: all missing"
    else:
        assert cell.title.startswith("run 1: ") and "threshold" in cell.title


def test_the_run_report_gives_back_the_stored_report(
    tiny_classifier, make_dispatch, penguins_frame
):
    dispatch = make_dispatch(model=tiny_classifier.model)
    run = stored_run(dispatch, tiny_classifier, shifted(penguins_frame))
    found = pages.run_report(run)
    assert found.run_id == run.pk and found.verdict == "drift"
    assert found.report.dataset_drift and found.report.rows == 344
    assert found.drifted == tuple(found.report.drifted)
    bare = dispatch.runs.create()
    assert pages.run_report(bare) is None


def test_a_run_of_another_version_is_refused_by_name(
    tiny_classifier, make_dispatch, penguins_frame
):
    dispatch = make_dispatch(model=tiny_classifier.model)
    run = stored_run(dispatch, tiny_classifier, report=DriftReport(rows=0))
    with pytest.raises(pages.DriftPageError) as refused:
        pages.version_report(tiny_classifier, run.pk + 1)
    assert refused.value.field == "run"
    assert pages.version_report(tiny_classifier, run.pk).reason == "no rows"
