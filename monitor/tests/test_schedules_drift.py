"""The Monitor's drift column: each dispatch's latest drift report (drift, no
drift, not checked and why), linking to its run; one query for all."""

import pytest
from django.urls import reverse

from monitor import schedules
from monitor.drift import pages
from monitor.drift.report import DriftReport
from monitor.tests.drift_runs import shifted, stored_run

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def three(tiny_classifier, make_dispatch, penguins_frame):
    """A drifting dispatch, a calm one, an unchecked one, and one never run."""
    version = tiny_classifier
    drifting = make_dispatch(model=version.model)
    stored_run(drifting, version, penguins_frame, hours_ago=2)
    stored_run(drifting, version, shifted(penguins_frame), hours_ago=1)
    calm = make_dispatch(model=version.model)
    stored_run(calm, version, shifted(penguins_frame), hours_ago=2)
    stored_run(calm, version, penguins_frame, hours_ago=1)
    unchecked = make_dispatch(model=version.model)
    stored_run(unchecked, version, report=DriftReport(state="drift monitoring is off"))
    never = make_dispatch(model=version.model)
    return drifting, calm, unchecked, never


def latest_run(dispatch):
    return dispatch.runs.order_by("-id").first()


def test_each_schedule_carries_its_latest_drift(three):
    drifting, calm, unchecked, never = three
    rows = {s.dispatch.pk: s for s in schedules.collect()}
    assert rows[drifting.pk].drift.verdict == "drift"
    assert rows[drifting.pk].drift.run_id == latest_run(drifting).pk
    assert rows[calm.pk].drift.verdict == "no drift"
    assert rows[unchecked.pk].drift.verdict == "not checked"
    assert rows[unchecked.pk].drift.reason == "drift monitoring is off"
    assert rows[never.pk].drift is None


def test_the_latest_drift_of_every_dispatch_costs_one_query(
    three, django_assert_num_queries
):
    with django_assert_num_queries(1):
        found = pages.latest_by_dispatch(d.pk for d in three)
    assert set(found) == {d.pk for d in three[:3]}


def test_the_monitor_shows_the_drift_state_and_links_to_the_run(viewer_client, three):
    drifting, calm, unchecked, never = three
    html = viewer_client.get(reverse("monitor:schedules")).content.decode()

    def cell(dispatch) -> str:
        row = html[html.index(f'<tr data-dispatch="{dispatch.pk}"') :]
        row = row[: row.index("</tr>")]
        return row[row.index("<td data-drift=") :]

    assert cell(drifting).startswith('<td data-drift="drift">')
    run_url = reverse("dispatch:run", args=[latest_run(drifting).pk])
    assert f'href="{run_url}#drift"' in cell(drifting)
    assert ">drift</a>" in cell(drifting) and "57.1 % of the features" in cell(drifting)
    assert "predictions" in cell(drifting)
    assert cell(calm).startswith('<td data-drift="no_drift">')
    assert ">no drift</a>" in cell(calm)
    assert cell(unchecked).startswith('<td data-drift="unchecked">')
    assert ">not checked</a>" in cell(unchecked)
    assert "drift monitoring is off" in cell(unchecked)
    assert cell(never).startswith('<td data-drift="none">')
    assert "no report yet" in cell(never)


def test_the_whole_monitor_page_shows_the_column(viewer_client, three):
    html = viewer_client.get(reverse("monitor:index")).content.decode()
    assert "<th>Drift</th>" in html and 'data-drift="drift"' in html
