"""The challenger pages: list, challenge, propose, approve, reject, rollback;
and the promotion history on the version page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from registry import challengers
from registry.challengers import PromotionRule
from registry.models import AliasChange, Challenge, ModelAlias
from registry.tests import challenger_world as world

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def dataset(db):
    return world.penguins_dataset()


@pytest.fixture
def weak(dataset, penguins_frame):
    return world.train_weak(penguins_frame, dataset)


@pytest.fixture
def strong(weak, dataset, penguins_frame):
    return world.train_strong(penguins_frame, dataset)


@pytest.fixture
def pending(strong):
    return challengers.propose(
        strong, rule=PromotionRule(needs_approval=True), origin="policy 3"
    )


@pytest.fixture
def approver(db, django_user_model):
    user = django_user_model.objects.create_user(username="apollo", password="x")
    user.groups.add(Group.objects.get(name="approver"))
    return user


@pytest.fixture
def approver_client(client, approver):
    client.force_login(approver)
    return client


def production(model) -> int:
    return ModelAlias.objects.get(model=model, name="production").version.number


def url(name: str, challenge: Challenge) -> str:
    return reverse(f"registry:{name}", args=["penguins", challenge.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


# --- reading ---------------------------------------------------------------------


@pytest.mark.slow
def test_the_pages_need_login(client, pending):
    for address in (
        reverse("registry:challenges", args=["penguins"]),
        url("challenge", pending),
    ):
        response = client.get(address)
        assert response.status_code == 302 and "login" in response["Location"]


def test_users_without_a_role_are_refused(client, nobody, pending):
    client.force_login(nobody)
    assert client.get(url("challenge", pending)).status_code == 403
    assert (
        client.get(reverse("registry:challenges", args=["penguins"])).status_code == 403
    )


def test_the_list_shows_each_challenge(viewer_client, pending):
    response = viewer_client.get(reverse("registry:challenges", args=["penguins"]))
    assert response.status_code == 200
    text = response.content.decode()
    assert 'data-state="pending"' in text and "policy 3" in text
    assert "accuracy" in text and " ± " in text


def test_the_challenge_page_shows_the_comparison_and_the_rule(viewer_client, pending):
    response = viewer_client.get(url("challenge", pending))
    assert response.status_code == 200
    comparison = pending.comparison
    text = response.content.decode()
    assert f"{comparison['champion_score']:.4g}" in text
    assert f"{comparison['challenger_score']:.4g}" in text
    assert (
        f"{comparison['difference']:.4g} ± {comparison['standard_error']:.4g}" in text
    )
    assert f"{comparison['rows']} (held-out rows of penguins v2)" in text
    assert "per-row" in text and "at least 0 required" in text
    # A viewer reads; only approvers get the buttons.
    assert 'data-testid="decide"' not in text
    assert "Waiting for a person" in text


def test_approvers_get_approve_and_reject(approver_client, pending):
    text = approver_client.get(url("challenge", pending)).content.decode()
    assert 'data-testid="decide"' in text
    assert url("approve", pending) in text and url("reject", pending) in text


def test_an_unknown_challenge_is_404(viewer_client, pending):
    response = viewer_client.get(
        reverse("registry:challenge", args=["penguins", pending.pk + 99])
    )
    assert response.status_code == 404


def test_the_version_page_shows_its_promotion_history(
    approver_client, pending, approver
):
    challengers.approve(pending, user=approver, reason="checked")
    response = approver_client.get(pending.challenger.get_absolute_url())
    text = response.content.decode()
    assert 'data-testid="promotions"' in text
    assert pending.get_absolute_url() in text
    assert 'data-kind="promoted"' in text and "checked" in text


def test_the_model_page_offers_rollback_to_approvers_only(
    approver_client, client, analyst, pending, approver
):
    challengers.approve(pending, user=approver, reason="ok")
    page = reverse("registry:model", args=["penguins"])
    text = approver_client.get(page).content.decode()
    assert 'data-testid="rollback"' in text and "Roll production back to v1" in text
    client.force_login(analyst)
    assert 'data-testid="rollback"' not in client.get(page).content.decode()


# --- propose -------------------------------------------------------------------


def propose_data(**fields) -> dict:
    data = {
        "alias": "production",
        "min_improvement": "0",
        "max_fairness_gap_increase": "",
        "needs_approval": "on",
        "shadow_runs": "2",
        "origin": "",
    }
    data.update(fields)
    return data


def test_an_analyst_proposes_from_the_version_page(analyst_client, strong, analyst):
    address = reverse("registry:propose", args=["penguins", 2])
    response = analyst_client.post(address, propose_data())
    challenge = Challenge.objects.get()
    assert response.status_code == 302
    assert response["Location"] == challenge.get_absolute_url()
    assert challenge.state == Challenge.State.PENDING
    assert challenge.proposed_by == analyst and challenge.shadow_runs == 2
    assert challenge.origin == "proposed by hand"
    assert production(strong.model) == 1


def test_a_proposal_without_approval_promotes_at_once(analyst_client, strong):
    address = reverse("registry:propose", args=["penguins", 2])
    analyst_client.post(address, propose_data(needs_approval=""))
    assert Challenge.objects.get().state == Challenge.State.PROMOTED
    assert production(strong.model) == 2


def test_a_bad_proposal_says_which_field(analyst_client, strong):
    address = reverse("registry:propose", args=["penguins", 2])
    response = analyst_client.post(address, propose_data(min_improvement="lots"))
    assert (
        response.status_code == 302
        and response["Location"] == strong.get_absolute_url()
    )
    assert "Minimum improvement" in " ".join(messages_of(response))
    assert not Challenge.objects.exists()


def test_a_refused_proposal_says_why(analyst_client, weak):
    address = reverse("registry:propose", args=["penguins", 1])
    response = analyst_client.post(address, propose_data())
    assert "champion already" in " ".join(messages_of(response))
    assert not Challenge.objects.exists()


def test_proposing_needs_the_train_permission(viewer_client, strong):
    address = reverse("registry:propose", args=["penguins", 2])
    assert viewer_client.post(address, propose_data()).status_code == 403
    assert not Challenge.objects.exists()


def test_proposing_is_post_only(analyst_client, strong):
    address = reverse("registry:propose", args=["penguins", 2])
    assert analyst_client.get(address).status_code == 405


# --- approve and reject --------------------------------------------------------


def test_an_approver_approves_with_a_reason(approver_client, pending, approver):
    response = approver_client.post(url("approve", pending), {"reason": "better"})
    assert response.status_code == 302
    assert response["Location"] == pending.get_absolute_url()
    pending.refresh_from_db()
    assert pending.state == Challenge.State.APPROVED
    assert pending.decided_by == approver and pending.reason == "better"
    assert production(pending.model) == 2
    text = approver_client.get(url("challenge", pending)).content.decode()
    assert "better" in text and "apollo" in text


def test_an_approval_without_a_reason_is_refused_on_the_page(approver_client, pending):
    response = approver_client.post(url("approve", pending), {"reason": " "})
    assert response.status_code == 400
    assert "Give a reason for the decision." in response.content.decode()
    pending.refresh_from_db()
    assert pending.state == Challenge.State.PENDING
    assert production(pending.model) == 1


def test_an_approver_rejects(approver_client, pending):
    approver_client.post(url("reject", pending), {"reason": "not now"})
    pending.refresh_from_db()
    assert pending.state == Challenge.State.REJECTED
    assert production(pending.model) == 1


def test_deciding_twice_is_refused_with_a_message(approver_client, pending):
    approver_client.post(url("reject", pending), {"reason": "no"})
    response = approver_client.post(url("approve", pending), {"reason": "yes"})
    assert "only a pending challenge" in " ".join(messages_of(response))
    pending.refresh_from_db()
    assert pending.state == Challenge.State.REJECTED
    assert production(pending.model) == 1


@pytest.mark.slow
@pytest.mark.parametrize("role", ["viewer", "analyst", "operator"])
def test_other_roles_cannot_decide(client, pending, role, request):
    client.force_login(request.getfixturevalue(role))
    for name in ("approve", "reject"):
        assert client.post(url(name, pending), {"reason": "x"}).status_code == 403
    pending.refresh_from_db()
    assert pending.state == Challenge.State.PENDING


def test_deciding_is_post_only(approver_client, pending):
    assert approver_client.get(url("approve", pending)).status_code == 405
    assert approver_client.get(url("reject", pending)).status_code == 405


def test_deciding_needs_the_csrf_token(approver, pending):
    client = Client(enforce_csrf_checks=True)
    client.force_login(approver)
    assert client.post(url("approve", pending), {"reason": "x"}).status_code == 403
    pending.refresh_from_db()
    assert pending.state == Challenge.State.PENDING


# --- rollback ----------------------------------------------------------------


def test_an_approver_rolls_back(approver_client, strong, approver):
    challengers.propose(strong)
    address = reverse("registry:rollback", args=["penguins"])
    response = approver_client.post(
        address, {"alias": "production", "reason": "alerts"}
    )
    assert response.status_code == 302
    assert "rolled back to v1" in " ".join(messages_of(response))
    assert production(strong.model) == 1
    change = AliasChange.objects.get(kind=AliasChange.Kind.ROLLED_BACK)
    assert change.user == approver and change.reason == "alerts"


def test_a_rollback_with_no_previous_champion_says_so(approver_client, weak):
    address = reverse("registry:rollback", args=["penguins"])
    response = approver_client.post(address, {"alias": "production"})
    assert "no previous champion" in " ".join(messages_of(response))
    assert production(weak.model) == 1


def test_a_rollback_with_a_bad_alias_says_so(approver_client, weak):
    address = reverse("registry:rollback", args=["penguins"])
    response = approver_client.post(address, {"alias": "Not An Alias"})
    assert "not a valid name" in " ".join(messages_of(response))


def test_rollback_needs_the_approve_permission(analyst_client, strong):
    challengers.propose(strong)
    address = reverse("registry:rollback", args=["penguins"])
    assert analyst_client.post(address, {"alias": "production"}).status_code == 403
    assert analyst_client.get(address).status_code in (403, 405)
    assert production(strong.model) == 2
