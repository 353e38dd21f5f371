"""The Drift page of a model version: heatmap, share over time, a feature's
distributions and history; login, role, method, bad filters, unknown pk."""

import json

import pytest
from django.urls import reverse

from monitor.drift.report import DriftReport
from monitor.models import DriftState
from monitor.tests.drift_runs import shifted, stored_run
from registry.tests.helpers import train_tiny

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def drift_runs(tiny_classifier, make_dispatch, penguins_frame):
    """Three runs of one dispatch: as trained, shifted, as trained again."""
    dispatch = make_dispatch(model=tiny_classifier.model)
    return [
        stored_run(dispatch, tiny_classifier, penguins_frame, hours_ago=3),
        stored_run(dispatch, tiny_classifier, shifted(penguins_frame), hours_ago=2),
        stored_run(dispatch, tiny_classifier, penguins_frame, hours_ago=1),
    ]


def url(version, **params):
    return reverse("monitor:drift", args=[version.pk]), params


def get(client, version, **params):
    return client.get(reverse("monitor:drift", args=[version.pk]), params)


def json_block(html: str, name: str):
    start = html.index(f'id="{name}"')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


def heat_row(html: str, feature: str) -> str:
    start = html.index(f'<tr data-feature="{feature}"><th>')
    return html[start : html.index("</tr>", start)]


def test_the_page_shows_the_heatmap_in_importance_order(
    viewer_client, tiny_classifier, drift_runs
):
    response = get(viewer_client, tiny_classifier)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="heatmap"' in html
    heatmap = html[html.index('data-testid="heatmap"') : html.index("</table>")]
    ranked = [row["feature"] for row in tiny_classifier.feature_importance]
    shown = [name for name in ranked if f'data-feature="{name}"' in heatmap]
    assert shown == sorted(shown, key=heatmap.index) and shown[0] == "island"
    # The shifted run (the middle column) drifts on island; the others not.
    island = heat_row(heatmap, "island")
    levels = [
        island.split(f'data-run="{run.pk}"')[0].rsplit("heat heat-", 1)[1].split('"')[0]
        for run in drift_runs
    ]
    assert levels[1] == "strong" and levels[0] in ("calm", "near")
    assert levels[2] in ("calm", "near")
    for run in drift_runs:
        assert f"#{run.pk}" in heatmap


def test_the_share_over_time_follows_the_runs(
    viewer_client, tiny_classifier, drift_runs
):
    html = get(viewer_client, tiny_classifier).content.decode()
    share = json_block(html, "drift-share-data")
    assert len(share["labels"]) == 3 and share["labels"][1].startswith(
        f"#{drift_runs[1].pk} "
    )
    assert share["share"][0] == 0.0 and share["share"][2] == 0.0
    assert share["share"][1] == pytest.approx(4 / 7)
    assert share["threshold"] == [0.5, 0.5, 0.5]
    assert "vendor/chartjs/chart.umd.min.js" in html and "monitor/drift.js" in html


def test_the_default_run_is_the_latest_and_the_feature_the_most_important(
    viewer_client, tiny_classifier, drift_runs
):
    html = get(viewer_client, tiny_classifier).content.decode()
    assert f'<h2 id="run">Run #{drift_runs[2].pk}</h2>' in html
    assert 'data-testid="feature-name">island' in html
    distribution = json_block(html, "drift-distribution-data")
    assert sorted(distribution["labels"]) == ["Biscoe", "Dream", "Torgersen"]
    assert sum(distribution["reference"]) == pytest.approx(1.0, abs=1e-5)
    assert sum(distribution["current"]) == pytest.approx(1.0, abs=1e-5)
    history = json_block(html, "drift-history-data")
    assert history["method"] == "chisquare" and len(history["score"]) == 3
    assert history["score"][1] < 0.05 < history["score"][0]
    assert history["threshold"] == [0.05, 0.05, 0.05]


def test_a_run_and_a_numeric_feature_are_chosen_by_the_filters(
    viewer_client, tiny_classifier, drift_runs
):
    response = get(
        viewer_client,
        tiny_classifier,
        run=drift_runs[1].pk,
        feature="bill_length_mm",
        runs=30,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<h2 id="run">Run #{drift_runs[1].pk}</h2>' in html
    assert 'data-testid="feature-name">bill_length_mm' in html
    distribution = json_block(html, "drift-distribution-data")
    assert len(distribution["labels"]) == len(distribution["reference"]) > 10
    assert " to " in distribution["labels"][0]
    # Bills 1.4x as long: the current mass sits in the upper bins.
    half = len(distribution["current"]) // 2
    assert sum(distribution["current"][half:]) > 0.9
    assert sum(distribution["reference"][half:]) < 0.6
    assert "drifted" in html[html.index('data-testid="feature-name"') :][:400]


def test_the_number_of_runs_is_a_filter(viewer_client, tiny_classifier, drift_runs):
    html = get(viewer_client, tiny_classifier, runs=1).content.decode()
    share = json_block(html, "drift-share-data")
    assert len(share["labels"]) == 1 and share["labels"][0].startswith(
        f"#{drift_runs[2].pk} "
    )
    assert f"#{drift_runs[0].pk}<" not in html


def test_an_older_run_than_the_heatmap_shows_can_still_be_chosen(
    viewer_client, tiny_classifier, drift_runs
):
    html = get(viewer_client, tiny_classifier, runs=1, run=drift_runs[1].pk).content
    assert f'<h2 id="run">Run #{drift_runs[1].pk}</h2>' in html.decode()


def test_an_unchecked_run_is_grey_with_its_reason(
    viewer_client, tiny_classifier, drift_runs
):
    dispatch = drift_runs[0].dispatch
    unchecked = stored_run(
        dispatch,
        tiny_classifier,
        report=DriftReport(state="no usable reference: the file is gone"),
    )
    html = get(viewer_client, tiny_classifier).content.decode()
    island = heat_row(html, "island")
    cell = island[island.index(f'data-run="{unchecked.pk}"') - 200 :]
    assert "heat-none" in cell.split(f'data-run="{unchecked.pk}"')[0]
    assert "not checked: no usable reference: the file is gone" in cell
    share = json_block(html, "drift-share-data")
    assert share["share"][-1] is None
    # The default run is the latest that was checked.
    assert f'<h2 id="run">Run #{drift_runs[2].pk}</h2>' in html


def test_choosing_an_unchecked_run_says_why(
    viewer_client, tiny_classifier, make_dispatch
):
    dispatch = make_dispatch(model=tiny_classifier.model)
    run = stored_run(dispatch, tiny_classifier, report=DriftReport(rows=0))
    response = get(viewer_client, tiny_classifier, run=run.pk)
    html = response.content.decode()
    assert response.status_code == 200
    assert str(DriftState.UNCHECKED.label) in html and "no rows" in html
    assert "drift-distribution-data" not in html


def test_a_version_with_no_runs_says_so(viewer_client, tiny_classifier):
    response = get(viewer_client, tiny_classifier)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="no-runs"' in html and "No dispatch run" in html
    assert "drift.js" not in html and 'data-testid="heatmap"' not in html


def test_it_needs_login(client, tiny_classifier):
    response = get(client, tiny_classifier)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_needs_the_view_permission(client, nobody, tiny_classifier):
    client.force_login(nobody)
    assert get(client, tiny_classifier).status_code == 403


def test_it_refuses_post(viewer_client, tiny_classifier):
    path = reverse("monitor:drift", args=[tiny_classifier.pk])
    assert viewer_client.post(path).status_code == 405


def test_an_unknown_version_is_404(viewer_client, db):
    assert viewer_client.get(reverse("monitor:drift", args=[999999])).status_code == 404


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"runs": "many"}, "runs", "Enter a whole number"),
        ({"runs": "0"}, "runs", "greater than or equal to 1"),
        ({"runs": "5000"}, "runs", "less than or equal to 200"),
        ({"run": "-3"}, "run", "greater than or equal to 1"),
        ({"run": "999999"}, "run", "Run 999999 has no drift report for version"),
        ({"feature": "beak_colour"}, "feature", "has no feature named beak_colour"),
    ],
)
def test_bad_filters_get_a_clear_message(
    viewer_client, tiny_classifier, drift_runs, params, field, message
):
    response = get(viewer_client, tiny_classifier, **params)
    assert response.status_code == 400
    html = response.content.decode()
    error = html[html.index(f'data-error="{field}"') :][:300]
    assert message in error, error
    assert 'data-testid="heatmap"' not in html


def test_a_run_of_another_version_is_refused(
    viewer_client, tiny_classifier, drift_runs, penguins_frame
):
    other = train_tiny(penguins_frame, "species", "penguins", alias=None)
    response = get(viewer_client, other, run=drift_runs[0].pk)
    assert response.status_code == 400
    assert f"Run {drift_runs[0].pk} has no drift report for version" in (
        response.content.decode()
    )


def test_the_version_page_links_to_it(viewer_client, tiny_classifier):
    html = viewer_client.get(tiny_classifier.get_absolute_url()).content.decode()
    assert f'href="{reverse("monitor:drift", args=[tiny_classifier.pk])}"' in html


def test_the_page_costs_the_same_queries_for_more_runs(
    viewer_client,
    tiny_classifier,
    drift_runs,
    penguins_frame,
    django_assert_max_num_queries,
):
    get(viewer_client, tiny_classifier)  # warm caches (permissions, sessions)
    with django_assert_max_num_queries(12) as few:
        get(viewer_client, tiny_classifier)
    dispatch = drift_runs[0].dispatch
    for _ in range(4):
        stored_run(dispatch, tiny_classifier, penguins_frame)
    with django_assert_max_num_queries(len(few.captured_queries)):
        get(viewer_client, tiny_classifier)


def test_the_feature_field_suggests_the_features(
    viewer_client, tiny_classifier, drift_runs
):
    html = get(viewer_client, tiny_classifier).content.decode()
    assert 'list="drift-feature-names"' in html
    names = html[html.index('<datalist id="drift-feature-names">') :]
    names = names[: names.index("</datalist>")]
    for item in tiny_classifier.feature_importance:
        assert f'<option value="{item["feature"]}">' in names
