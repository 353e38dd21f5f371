"""The Showroom in a real Chromium: predict a demo case, see the result appear."""

import pytest

from conftest import browser_login, wait_until
from showroom.tests.conftest import showroom_events

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
]


def test_predict_a_demo_case_and_see_the_result(page, live_server, case_source):
    browser_login(page, live_server, "ana")
    page.goto(f"{live_server.url}/showroom/penguins/")
    assert page.locator("#result").inner_text().startswith("Predict a case")

    page.click("[data-testid=predict-query-0]")
    prediction = page.locator("#result [data-testid=prediction]")
    prediction.wait_for()
    assert prediction.inner_text().strip() == "Adelie"
    assert page.url == f"{live_server.url}/showroom/penguins/"  # no reload
    # Chart.js drew the class probabilities.
    wait_until(
        page,
        "document.querySelector('#result canvas.probabilities').dataset.drawn === '1'",
    )
    assert "ms" in page.locator("#result footer").inner_text()
    # The recent-predictions panel refreshed itself.
    page.locator("#recent td", has_text="Adelie").first.wait_for()
    assert len(showroom_events(kind="prediction")) == 1


def test_edit_a_case_then_predict_it(page, live_server, case_source):
    browser_login(page, live_server, "ana")
    page.goto(f"{live_server.url}/showroom/penguins/")
    page.locator("#cases-query button", has_text="Edit").first.click()
    wait_until(
        page, "document.querySelector('#case-form [name=island]').value === 'Torgersen'"
    )
    # A Gentoo's measurements on the first penguin's island.
    page.fill("#case-form [name=bill_length_mm]", "47.5")
    page.fill("#case-form [name=bill_depth_mm]", "14.2")
    page.fill("#case-form [name=flipper_length_mm]", "217")
    page.fill("#case-form [name=year]", "")
    page.click("[data-testid=predict-form]")
    # Refused in place: the form comes back with the field's message.
    page.locator("[data-testid=error-year]").wait_for()
    assert "required" in page.locator("[data-testid=error-year]").inner_text()
    assert showroom_events(kind="prediction") == []

    page.fill("#case-form [name=year]", "2008")
    page.fill("#case-form [name=body_mass_g]", "4900")
    page.click("[data-testid=predict-form]")
    prediction = page.locator("#result [data-testid=prediction]")
    prediction.wait_for()
    assert prediction.inner_text().strip() == "Gentoo"
