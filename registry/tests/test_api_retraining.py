"""The retraining API: policies per model (viewers read, TRAIN changes),
retrain now (202 queued, 409 skipped), the run history; errors shaped
{"error", "fields"} naming the field."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from registry import retrain_cron
from registry.models import RetrainPolicy, RetrainRun

pytestmark = pytest.mark.django_db(databases=["default", "events"])
BASE = "/api/registry/models/penguins"


def _client(user=None):
    client = APIClient()
    if user is not None:
        token = Token.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture(autouse=True)
def _no_lines_left():
    yield
    for pk in RetrainPolicy.objects.values_list("pk", flat=True):
        retrain_cron.remove(pk)


@pytest.fixture
def policy(tiny_classifier):
    return RetrainPolicy.objects.create(
        model=tiny_classifier.model, name="nightly", trigger="manual"
    )


def test_create_a_schedule_policy(analyst, tiny_classifier):
    response = _client(analyst).post(
        f"{BASE}/policies/",
        {
            "name": "daily",
            "trigger": "schedule",
            "cron": "0  3 * * *",
            "overrides": {"time_limit": 40},
            "action": "replace",
            "min_improvement": 0.01,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["cron"] == "0 3 * * *" and body["overrides"] == {"time_limit": 40}
    made = RetrainPolicy.objects.get(pk=body["id"])
    assert made.created_by == analyst and made.action == "replace"
    assert made.pk in retrain_cron.managed_entries()


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"trigger": "schedule", "cron": "99 * * * *"}, "cron", "not a valid cron"),
        ({"trigger": "manual", "overrides": {"label": "x"}}, "overrides", "label"),
        ({"trigger": "sometimes"}, "trigger", "not a valid choice"),
        ({"trigger": "manual", "name": "Bad Name"}, "name", "lower-case"),
    ],
)
def test_bad_policies_are_refused_naming_the_field(
    analyst, tiny_classifier, payload, field, message
):
    body = {"name": "daily", **payload}
    response = _client(analyst).post(f"{BASE}/policies/", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert "error" in errors and message in " ".join(errors["fields"][field])
    assert not RetrainPolicy.objects.exists()


def test_a_duplicate_name_is_refused(analyst, policy):
    response = _client(analyst).post(
        f"{BASE}/policies/", {"name": "nightly", "trigger": "manual"}, format="json"
    )
    assert response.status_code == 400
    assert "already has a policy" in " ".join(response.json()["fields"]["name"])


def test_viewers_read_but_cannot_change(viewer, policy):
    client = _client(viewer)
    listed = client.get(f"{BASE}/policies/")
    assert listed.status_code == 200 and listed.json()[0]["name"] == "nightly"
    assert client.get(f"{BASE}/policies/{policy.pk}/").status_code == 200
    assert client.get(f"{BASE}/retrains/").status_code == 200
    denied = [
        client.post(f"{BASE}/policies/", {"name": "x", "trigger": "manual"}),
        client.patch(f"{BASE}/policies/{policy.pk}/", {"enabled": False}),
        client.delete(f"{BASE}/policies/{policy.pk}/"),
        client.post(f"{BASE}/policies/{policy.pk}/run/"),
    ]
    assert [r.status_code for r in denied] == [403] * 4
    assert RetrainPolicy.objects.get().enabled and not RetrainRun.objects.exists()


def test_the_api_needs_a_token(policy):
    assert _client().get(f"{BASE}/policies/").status_code in (401, 403)


def test_patch_and_delete(analyst, policy):
    client = _client(analyst)
    response = client.patch(
        f"{BASE}/policies/{policy.pk}/",
        {"trigger": "schedule", "cron": "15 2 * * *"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert retrain_cron.managed_entries()[policy.pk].startswith("15 2 * * * ")
    assert client.delete(f"{BASE}/policies/{policy.pk}/").status_code == 204
    assert not RetrainPolicy.objects.exists()
    assert policy.pk not in retrain_cron.managed_entries()


def test_retrain_now_then_again(analyst, policy):
    client = _client(analyst)
    first = client.post(f"{BASE}/policies/{policy.pk}/run/")
    assert first.status_code == 202 and first.json()["state"] == "queued"
    second = client.post(f"{BASE}/policies/{policy.pk}/run/")
    assert second.status_code == 409 and second.json()["state"] == "skipped"
    assert "already being retrained" in second.json()["reason"]
    runs = client.get(f"{BASE}/retrains/").json()
    assert [r["state"] for r in runs] == ["skipped", "queued"]
    assert runs[1]["policy"] == "nightly" and runs[1]["trigger"] == "manual"


def test_unknown_models_and_policies_are_404(analyst, policy):
    client = _client(analyst)
    assert client.get("/api/registry/models/nothing/policies/").status_code == 404
    assert client.get(f"{BASE}/policies/999/").status_code == 404
    assert client.post(f"{BASE}/policies/999/run/").status_code == 404
