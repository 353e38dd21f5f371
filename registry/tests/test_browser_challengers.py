"""In Chromium: an analyst proposes a challenger and reads the comparison; an
approver approves it with a reason, then rolls production back."""

import pytest
from django.contrib.auth.models import Group

from conftest import PASSWORD, browser_login
from registry.models import Challenge, ModelAlias
from registry.tests import challenger_world as world

pytestmark = [
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
    pytest.mark.browser,
]


@pytest.fixture
def approver(db, django_user_model):
    user = django_user_model.objects.create_user(username="apollo", password=PASSWORD)
    user.groups.add(Group.objects.get(name="approver"))
    return user


def production() -> int:
    return ModelAlias.objects.get(
        model__name="penguins", name="production"
    ).version.number


@pytest.mark.slow
def test_compare_approve_and_roll_back(
    browser, page, live_server, analyst, approver, penguins_frame
):
    dataset = world.penguins_dataset()
    world.train_weak(penguins_frame, dataset)
    world.train_strong(penguins_frame, dataset)

    # The analyst proposes v2 from its version page; approval is asked for.
    browser_login(page, live_server, "ana")
    page.goto(f"{live_server.url}/models/penguins/v2/")
    page.click("summary:has-text('Propose as challenger')")
    page.fill("input[name=origin]", "browser test")
    page.click("button:has-text('Compare and propose')")
    page.wait_for_selector("[data-testid=comparison]")
    challenge = Challenge.objects.get()
    assert challenge.state == Challenge.State.PENDING
    comparison = challenge.comparison
    assert page.inner_text("[data-testid=champion-score]") == (
        f"{comparison['champion_score']:.4g}"
    )
    assert page.inner_text("[data-testid=challenger-score]") == (
        f"{comparison['challenger_score']:.4g}"
    )
    difference = page.inner_text("[data-testid=difference]")
    assert (
        f"{comparison['difference']:.4g} ± " in difference and "per-row" in difference
    )
    assert "yes" in page.inner_text("[data-testid=verdict]")
    # Analysts propose; they do not decide.
    assert page.locator("[data-testid=decide]").count() == 0
    assert production() == 1

    # The approver, in a browser of their own, approves with a reason.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    other = context.new_page()
    try:
        browser_login(other, live_server, "apollo")
        other.goto(f"{live_server.url}/models/penguins/challenges/")
        other.click(f"a:has-text('#{challenge.pk}')")
        # Without a reason the browser itself refuses (the field is required).
        other.click("button:has-text('Approve and promote')")
        assert other.locator("[data-testid=challenge-state]").inner_text() == (
            "Waiting for approval"
        )
        other.fill("textarea[name=reason]", "wins on the same rows")
        other.click("button:has-text('Approve and promote')")
        other.wait_for_selector("[data-testid=decision]")
        assert "wins on the same rows" in other.inner_text("[data-testid=decision]")
        assert "apollo" in other.inner_text("[data-testid=decision]")
        assert production() == 2

        # One click (and a confirmation) rolls production back to v1.
        other.goto(f"{live_server.url}/models/penguins/")
        other.once("dialog", lambda dialog: dialog.accept())
        other.click("button:has-text('Roll production back to v1')")
        other.wait_for_selector(".message:has-text('rolled back to v1')")
        assert production() == 1
        other.goto(f"{live_server.url}/models/penguins/v2/")
        kinds = other.eval_on_selector_all(
            "[data-testid=promotions] li", "items => items.map(i => i.dataset.kind)"
        )
        assert kinds == ["challenge", "promoted", "rolled_back"]
    finally:
        context.close()
