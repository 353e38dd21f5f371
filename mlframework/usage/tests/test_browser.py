"""The API usage page in a real Chromium: its charts draw under the CSP."""

import datetime as dt

import pytest
from django.utils import timezone

from conftest import browser_login, wait_until
from mlframework.usage.models import ApiRequest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
]


def test_the_charts_draw_and_the_form_changes_the_grouping(
    page, live_server, viewer, tmp_path
):
    now = timezone.now()
    ApiRequest.objects.bulk_create(
        ApiRequest(
            at=now - dt.timedelta(hours=i % 5, minutes=1),
            username=["ana", "bob"][i % 2],
            endpoint="showroom-api:predict",
            model_name="penguins",
            method="POST",
            status=200 if i % 7 else 500,
            duration_ms=5.0 + i,
        )
        for i in range(40)
    )
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    browser_login(page, live_server, "vera")
    page.goto(f"{live_server.url}/monitor/")
    page.get_by_test_id("api-usage-link").click()
    page.wait_for_url(f"{live_server.url}/monitor/api-usage/")
    assert (
        page.locator("tr[data-key='ana'] td[data-col='requests']").inner_text() == "20"
    )
    # Chart.js attached a chart to each canvas: the page's script ran.
    wait_until(
        page,
        "() => ['usage-requests', 'usage-latency'].every("
        "id => window.Chart && Chart.getChart(document.getElementById(id)))",
    )
    labels = page.evaluate(
        "() => Chart.getChart(document.getElementById('usage-requests'))"
        ".data.datasets.map(d => d.label)"
    )
    assert labels == ["ana", "bob"]
    page.select_option("select[name=grouping]", "day")
    page.select_option("select[name=by]", "model")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**grouping=day**")
    assert (
        page.locator("tr[data-key='penguins'] td[data-col='requests']").inner_text()
        == "40"
    )
    page.screenshot(path=str(tmp_path / "api-usage.png"))
    assert not [e for e in errors if "Content Security Policy" in e]
