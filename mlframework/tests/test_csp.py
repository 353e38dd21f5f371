"""The Content-Security-Policy in a real Chromium: the main pages load with no
violation, htmx still swaps its parts and Chart.js still draws."""

import datetime as dt

import pytest
from django.utils import timezone

from conftest import PASSWORD, browser_login, wait_until
from dispatch.models import Dispatch, DispatchRun, RunStatus
from registry.models import RegisteredModel
from showroom.tests.conftest import case_source, demo_table  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
]

# Collected in the page itself: the browser's own report of each violation.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") +
                    " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@pytest.fixture
def watched(page):
    """The page, with every CSP report from the console and the DOM collected."""
    page.add_init_script(WATCH)
    reports = []
    page.on(
        "console",
        lambda message: (
            reports.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    return page, reports


def visit(page, reports, url):
    response = page.goto(url)
    assert response.status == 200, url
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    page.wait_for_load_state("load")
    violations = page.evaluate("window.__csp")
    assert violations == [] and reports == [], (url, violations, reports)


def chart_drawn(page, selector):
    """A Chart.js instance on a canvas of non-zero size."""
    wait_until(
        page,
        "sel => { const c = document.querySelector(sel);"
        " return c && Chart.getChart(c) && c.width > 0 && c.height > 0; }",
        arg=selector,
        timeout=10,
    )


def a_dispatch_with_runs(model) -> Dispatch:
    dispatch = Dispatch.objects.create(
        name="scores",
        model=model,
        version_ref="production",
        source_datasource="demo",
        source_query="SELECT * FROM penguins",
        sink_datasource="demo",
        sink_table="penguin_scores",
        cron="*/5 * * * *",
        enabled=False,
    )
    start = timezone.now() - dt.timedelta(hours=3)
    for index in range(3):
        began = start + dt.timedelta(hours=index)
        DispatchRun.objects.create(
            dispatch=dispatch,
            status=RunStatus.SUCCEEDED,
            started=began,
            finished=began + dt.timedelta(seconds=2 + index),
            rows_written=100 * (index + 1),
        )
    return dispatch


def test_the_main_pages_keep_to_the_policy(
    watched,
    live_server,
    analyst,
    tiny_classifier,
    case_source,  # noqa: F811
):
    page, reports = watched
    browser_login(page, live_server, "ana")
    base = live_server.url

    visit(page, reports, f"{base}/")

    visit(page, reports, f"{base}/models/penguins/v1/")
    chart_drawn(page, "#leaderboard-chart")

    visit(page, reports, f"{base}/showroom/penguins/")
    page.click("[data-testid=predict-query-0]")  # an htmx POST, swapped in
    page.locator("#result [data-testid=prediction]").wait_for()
    chart_drawn(page, "#result canvas.probabilities")
    assert page.evaluate("window.__csp") == [] and reports == []

    dispatch = a_dispatch_with_runs(tiny_classifier.model)
    visit(page, reports, f"{base}/dispatches/{dispatch.pk}/")
    chart_drawn(page, "#run-chart")

    visit(page, reports, f"{base}/events/")


def test_the_monitor_refreshes_its_parts_under_the_policy(
    watched, live_server, operator
):
    page, reports = watched
    a_dispatch_with_runs(RegisteredModel.objects.create(name="penguins"))
    browser_login(page, live_server, "otto")
    visit(page, reports, f"{live_server.url}/dispatches/new/")
    page.fill("input[name=cron]", "30 6 * * 1-5")
    page.locator("input[name=cron]").dispatch_event("change")
    page.locator("#schedule-preview li").first.wait_for(timeout=10_000)  # htmx
    visit(page, reports, f"{live_server.url}/monitor/")
    page.evaluate(
        "window.__swaps = [];"
        "document.body.addEventListener('htmx:afterSwap',"
        " e => window.__swaps.push(e.detail.target.id || e.detail.elt.id));"
    )
    page.mouse.move(10, 10)  # counts as activity: the short refresh period
    wait_until(page, "window.__swaps.length >= 3", timeout=20)
    swapped = set(page.evaluate("window.__swaps"))
    assert {"checks", "schedules", "alerts"} <= swapped
    assert page.evaluate("window.__csp") == [] and reports == []


def test_the_admin_and_the_lockout_page_keep_to_the_policy(
    watched, live_server, superuser, viewer
):
    page, reports = watched
    browser_login(page, live_server, "root")
    for path in ("/admin/", "/admin/auth/user/", "/admin/axes/accessattempt/"):
        visit(page, reports, f"{live_server.url}{path}")
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/")
    for _ in range(5):
        page.fill("input[name=username]", "vera")
        page.fill("input[name=password]", PASSWORD + "-wrong")
        page.click("button[type=submit]")
        page.wait_for_load_state("load")
        if page.locator("[data-testid=lockout]").count():
            break
        page.wait_for_url(f"{live_server.url}/accounts/login/")
    assert "locked out for" in page.locator("[data-testid=lockout]").inner_text()
    assert page.evaluate("window.__csp") == [] and reports == []
