"""The challenger API: propose, list, detail, approve, reject, rollback."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from registry import challengers
from registry.challengers import PromotionRule
from registry.models import AliasChange, Challenge, ModelAlias
from registry.tests import challenger_world as world

pytestmark = pytest.mark.django_db(databases=["default", "events"])

BASE = "/api/registry/models/penguins"


def _client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token = Token.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


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
    return challengers.propose(strong, rule=PromotionRule(needs_approval=True))


@pytest.fixture
def approver(db, django_user_model):
    user = django_user_model.objects.create_user(username="apollo", password="x")
    user.groups.add(Group.objects.get(name="approver"))
    return user


def production(model) -> int:
    return ModelAlias.objects.get(model=model, name="production").version.number


@pytest.mark.slow
def test_an_analyst_proposes_through_the_api(strong, analyst):
    response = _client(analyst).post(
        f"{BASE}/versions/2/propose/",
        {"needs_approval": True, "shadow_runs": 3, "origin": "nightly job"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "pending" and body["champion"] == 1
    assert body["challenger"] == 2 and body["shadow_runs"] == 3
    assert body["origin"] == "nightly job" and body["proposed_by"] == "ana"
    comparison = body["comparison"]
    assert comparison["metric"] == "accuracy" and comparison["rows"] > 0
    assert comparison["difference"] == pytest.approx(
        comparison["challenger_score"] - comparison["champion_score"]
    )
    assert body["verdict"]["met"] is True
    assert body["rule"] == PromotionRule(needs_approval=True).to_json()
    assert production(strong.model) == 1


def test_a_refused_proposal_is_a_400_saying_why(weak, analyst):
    response = _client(analyst).post(f"{BASE}/versions/1/propose/", {}, format="json")
    assert response.status_code == 400
    assert "champion already" in str(response.json())
    assert not Challenge.objects.exists()


def test_a_proposal_with_bad_fields_names_them(strong, analyst):
    response = _client(analyst).post(
        f"{BASE}/versions/2/propose/",
        {"shadow_runs": -1, "alias": "Not An Alias"},
        format="json",
    )
    assert response.status_code == 400
    text = str(response.json())
    assert "shadow_runs" in text and "alias" in text
    assert not Challenge.objects.exists()


def test_proposing_an_unknown_version_is_a_404(weak, analyst):
    response = _client(analyst).post(f"{BASE}/versions/9/propose/", {}, format="json")
    assert response.status_code == 404


def test_a_viewer_cannot_propose(strong, viewer):
    response = _client(viewer).post(f"{BASE}/versions/2/propose/", {}, format="json")
    assert response.status_code == 403
    assert not Challenge.objects.exists()


def test_the_list_and_the_detail(pending, viewer):
    client = _client(viewer)
    listed = client.get(f"{BASE}/challenges/")
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()] == [pending.pk]
    detail = client.get(f"{BASE}/challenges/{pending.pk}/").json()
    assert detail["state"] == "pending"
    assert detail["url"] == pending.get_absolute_url()
    assert client.get(f"{BASE}/challenges/{pending.pk + 9}/").status_code == 404
    assert client.get("/api/registry/models/nope/challenges/").status_code == 404


def test_reading_needs_login(pending):
    assert _client().get(f"{BASE}/challenges/").status_code in (401, 403)


def test_an_approver_approves(pending, approver):
    response = _client(approver).post(
        f"{BASE}/challenges/{pending.pk}/approve/", {"reason": "wins"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["state"] == "approved" and body["decided_by"] == "apollo"
    assert body["reason"] == "wins" and body["decided_at"]
    assert production(pending.model) == 2


def test_an_approval_needs_a_reason(pending, approver):
    response = _client(approver).post(
        f"{BASE}/challenges/{pending.pk}/approve/", {}, format="json"
    )
    assert response.status_code == 400 and "reason" in str(response.json())
    pending.refresh_from_db()
    assert pending.state == Challenge.State.PENDING


def test_an_approver_rejects(pending, approver):
    response = _client(approver).post(
        f"{BASE}/challenges/{pending.pk}/reject/", {"reason": "no"}, format="json"
    )
    assert response.json()["state"] == "rejected"
    assert production(pending.model) == 1


def test_approving_twice_is_a_400(pending, approver):
    client = _client(approver)
    address = f"{BASE}/challenges/{pending.pk}/approve/"
    assert client.post(address, {"reason": "a"}, format="json").status_code == 200
    again = client.post(address, {"reason": "b"}, format="json")
    assert again.status_code == 400 and "only a pending" in str(again.json())
    assert AliasChange.objects.filter(kind=AliasChange.Kind.PROMOTED).count() == 1


@pytest.mark.slow
@pytest.mark.parametrize("role", ["viewer", "analyst", "operator"])
def test_only_approvers_decide_and_roll_back(pending, role, request):
    client = _client(request.getfixturevalue(role))
    for action in ("approve", "reject"):
        response = client.post(
            f"{BASE}/challenges/{pending.pk}/{action}/", {"reason": "x"}, format="json"
        )
        assert response.status_code == 403
    assert client.post(f"{BASE}/rollback/", {}, format="json").status_code == 403
    pending.refresh_from_db()
    assert pending.state == Challenge.State.PENDING


def test_an_approver_rolls_back(strong, approver):
    challengers.propose(strong)
    response = _client(approver).post(
        f"{BASE}/rollback/", {"reason": "alerts"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["aliases"]["production"] == 1
    assert production(strong.model) == 1


def test_a_rollback_with_no_previous_champion_is_a_400(weak, approver):
    response = _client(approver).post(f"{BASE}/rollback/", {}, format="json")
    assert response.status_code == 400
    assert "no previous champion" in str(response.json())


def test_the_schema_lists_the_challenger_endpoints(viewer):
    schema = _client(viewer).get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "/api/registry/models/{name}/challenges/{id}/approve/" in paths
    assert "/api/registry/models/{name}/rollback/" in paths
