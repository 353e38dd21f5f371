"""The first browser test: log in and see the navigation, on desktop and phone."""

import pytest

from conftest import browser_login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
]


def test_log_in_and_see_the_navigation(page, live_server, viewer, tmp_path):
    page.goto(f"{live_server.url}/events/")
    assert "/accounts/login/" in page.url
    browser_login(page, live_server, "vera")
    nav = page.locator("nav .nav-links")
    for label in ("Models", "Showroom", "Dispatches", "Monitor", "Events"):
        assert nav.get_by_role("link", name=label).is_visible()
    assert nav.get_by_role("link", name="Admin").count() == 0  # not staff
    nav.get_by_role("link", name="Events").click()
    page.wait_for_url(f"{live_server.url}/events/")
    assert page.locator("h1").inner_text() == "Events"
    page.screenshot(path=str(tmp_path / "events.png"))


def test_the_navigation_folds_into_a_menu_on_a_phone(browser, live_server, viewer):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        browser_login(page, live_server, "vera")
        models = page.locator("nav .nav-links").get_by_role("link", name="Models")
        assert not models.is_visible()
        page.locator("label.nav-toggle-label").click()
        assert models.is_visible()
    finally:
        context.close()
