"""The Drift page in a real Chromium: heatmap rendered, Chart.js draws the
share over time and a feature's distributions with data, no console or CSP
error; clicking a heatmap cell shows that feature in that run."""

import pytest

from conftest import browser_login, wait_until
from monitor.tests.drift_runs import shifted, stored_run

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
]

# Collected in the page itself: the browser's own report of each violation.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""

# Points Chart.js holds for a canvas: labels and each dataset's values.
CHART = """sel => { const c = document.querySelector(sel);
  const chart = c && Chart.getChart(c);
  if (!chart || !c.width || !c.height) return null;
  return {type: chart.config.type, labels: chart.data.labels,
          data: chart.data.datasets.map(d => d.data)}; }"""


def chart(page, selector):
    wait_until(page, f"sel => ({CHART})(sel) !== null", arg=selector)
    return page.evaluate(CHART, selector)


def test_the_drift_page_draws_its_heatmap_and_charts(
    page, live_server, viewer, tiny_classifier, make_dispatch, penguins_frame, tmp_path
):
    dispatch = make_dispatch(model=tiny_classifier.model)
    runs = [
        stored_run(dispatch, tiny_classifier, penguins_frame, hours_ago=3),
        stored_run(dispatch, tiny_classifier, shifted(penguins_frame), hours_ago=2),
        stored_run(dispatch, tiny_classifier, penguins_frame, hours_ago=1),
    ]
    problems = []
    page.add_init_script(WATCH)
    page.on(
        "console",
        lambda m: (
            problems.append((m.text, m.location.get("url")))
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    failed = []
    page.on(
        "response",
        lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None,
    )
    browser_login(page, live_server, "vera")

    # From the registry's version page to its Drift page.
    page.goto(f"{live_server.url}{tiny_classifier.get_absolute_url()}")
    page.get_by_test_id("drift-link").click()
    page.get_by_test_id("heatmap").wait_for()
    assert page.url.endswith(f"/monitor/versions/{tiny_classifier.pk}/drift/")

    heatmap = page.get_by_test_id("heatmap")
    assert heatmap.locator("tbody tr").first.get_attribute("data-feature") == "island"
    island = heatmap.locator("tr[data-feature='island'] td")
    assert island.count() == 3
    assert "heat-strong" in island.nth(1).get_attribute("class")
    assert "drifted" in island.nth(1).get_attribute("title")
    assert "heat-strong" not in island.nth(0).get_attribute("class")

    share = chart(page, "#share-chart")
    assert share["type"] == "line" and len(share["labels"]) == 3
    assert share["data"][0][1] == pytest.approx(4 / 7) and share["data"][0][0] == 0
    distribution = chart(page, "#distribution-chart")
    assert distribution["type"] == "bar"
    assert sorted(distribution["labels"]) == ["Biscoe", "Dream", "Torgersen"]
    assert sum(distribution["data"][0]) == pytest.approx(1, abs=1e-5)
    history = chart(page, "#history-chart")
    assert len(history["data"][0]) == 3 and history["data"][0][1] < 0.05
    # Drawn: the canvas has pixels, not only a tag.
    assert (
        page.evaluate("document.getElementById('share-chart').toDataURL().length")
        > 2000
    )
    page.screenshot(path=str(tmp_path / "drift.png"), full_page=True)

    # A cell of the shifted run: that feature's distributions in that run.
    heatmap.locator("tr[data-feature='bill_length_mm'] td").nth(1).locator("a").click()
    page.get_by_test_id("feature-name").filter(has_text="bill_length_mm").wait_for()
    assert f"run={runs[1].pk}" in page.url
    assert page.locator("h2#run").inner_text() == f"Run #{runs[1].pk}"
    bills = chart(page, "#distribution-chart")
    half = len(bills["labels"]) // 2
    assert sum(bills["data"][1][half:]) > 0.9  # the current bills are longer

    # A bad filter: a clear message on the page, not an error page.
    bad = f"{live_server.url}/monitor/versions/{tiny_classifier.pk}/drift/?runs=0"
    assert page.goto(bad).status == 400
    refused = page.locator("[data-error=runs]").inner_text()
    assert "greater than or equal to 1" in refused

    assert page.evaluate("window.__csp") == []
    assert failed == [(400, bad)], failed
    # The browser's own favicon request and the refused filter are expected.
    expected = {f"{live_server.url}/favicon.ico", bad}
    assert [p for p in problems if p[1] not in expected] == [], problems
