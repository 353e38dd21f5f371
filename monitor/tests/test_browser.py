"""Pause and resume a dispatch from the Monitor page in a real Chromium."""

import pytest

from conftest import browser_login, wait_until
from dispatch import crontab
from dispatch import services as dispatch_services
from mlframework.config import HostConfig

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
]


def test_an_operator_pauses_and_resumes_a_dispatch_from_the_page(
    page, live_server, operator, make_dispatch, use_config, tmp_path
):
    use_config(hosts=[])
    dispatch = make_dispatch(cron="30 6 * * *", timezone="America/Sao_Paulo")
    dispatch_services.enable(dispatch, operator)
    browser_login(page, live_server, "otto")
    page.goto(f"{live_server.url}/monitor/")
    row = page.locator(f"tr[data-dispatch='{dispatch.pk}']")
    assert row.get_attribute("data-state") == "enabled"
    assert "America/Sao_Paulo" in row.inner_text()

    row.get_by_label(f"Reason for {dispatch.name}").fill("warehouse reload")
    row.get_by_role("button", name="Pause").click()
    # htmx swaps the schedules part in place: no page load.
    paused = page.locator(f"tr[data-dispatch='{dispatch.pk}'][data-state='paused']")
    paused.wait_for(timeout=10_000)
    assert "by otto" in paused.inner_text()
    assert "warehouse reload" in paused.inner_text()
    assert (
        page.get_by_role("status")
        .first.inner_text()
        .startswith(f"Dispatch {dispatch.name} paused")
    )
    dispatch.refresh_from_db()
    assert not dispatch.enabled
    assert dispatch.pk not in crontab.managed_entries()
    page.screenshot(path=str(tmp_path / "paused.png"))

    paused.get_by_role("button", name="Enable").click()
    enabled = page.locator(f"tr[data-dispatch='{dispatch.pk}'][data-state='enabled']")
    enabled.wait_for(timeout=10_000)
    dispatch.refresh_from_db()
    assert dispatch.enabled
    assert crontab.managed_entries()[dispatch.pk] == crontab.line_for(dispatch)
    assert page.url == f"{live_server.url}/monitor/"


def test_the_parts_refresh_themselves(
    page, live_server, viewer, use_config, listening_port
):
    use_config(hosts=[HostConfig(name="api", host="127.0.0.1", port=listening_port)])
    browser_login(page, live_server, "vera")
    page.goto(f"{live_server.url}/monitor/")
    first = page.locator("#checks small").last.inner_text()
    page.mouse.move(10, 10)  # activity: the fast refresh applies
    with page.expect_response(lambda r: r.url.endswith("/monitor/checks/")):
        pass
    wait_until(
        page,
        "text => document.querySelector('#checks small:last-of-type') &&"
        " document.querySelectorAll('#checks small')[document.querySelectorAll("
        "'#checks small').length - 1].innerText !== text",
        arg=first,
        timeout=15,
    )
