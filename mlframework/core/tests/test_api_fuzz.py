"""schemathesis against the OpenAPI schema: every operation, with each role's
token, positive and negative examples; no 5xx, every error in the one shape.

In-process over WSGI (no network at all); uploads land in this test's folders;
a queued training job is never run (no worker runs in the tests)."""

from dataclasses import replace

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis.generation.modes import GenerationMode

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(databases=["default", "events"]),
]

EXAMPLES = 25  # per operation, role and mode: the whole test stays near a minute
ROLES = ("viewer", "analyst", "operator", "superuser")


@pytest.fixture
def wsgi_app():
    """Django's WSGI app in-process; like Django's test client, requests must
    not close the test's database connections."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def own_folders(settings, tmp_path):
    paths = replace(
        settings.CONFIG.paths,
        datasets=str(tmp_path / "datasets"),
        models=str(tmp_path / "models"),
    )
    settings.CONFIG = replace(settings.CONFIG, paths=paths)
    return tmp_path


def assert_answer_fits(case, response) -> None:
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert response.status_code < 500, f"{where}: {response.text[:500]}"
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), (
        f"{where}: {content_type} {response.text[:200]}"
    )
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error", "fields"}, where
    assert isinstance(body["error"], str) and body["error"], where
    assert isinstance(body["fields"], dict), where
    for name, messages in body["fields"].items():
        assert isinstance(messages, list), f"{where}: {name}"
        assert all(isinstance(m, str) for m in messages), f"{where}: {name}"
    text = response.text
    assert "np.int64" not in text and "ErrorDetail" not in text, f"{where}: {text}"
    assert "Traceback" not in text, where


def fuzz(operation, mode, token: str, seen: set) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        response = case.call(headers={"Authorization": f"Token {token}"})
        seen.add((case.operation.label, response.status_code))
        assert_answer_fits(case, response)

    try:
        run()
    except Unsatisfiable:
        # An operation whose only input is a plain path has nothing to negate.
        assert mode == GenerationMode.NEGATIVE, operation.label


def test_every_operation_answers_in_shape_for_every_role(
    request, wsgi_app, own_folders, tiny_classifier, superuser
):
    users = {"superuser": superuser}
    for role in ROLES[:-1]:
        users[role] = request.getfixturevalue(role)
    tokens = {
        role: Token.objects.get_or_create(user=user)[0].key
        for role, user in users.items()
    }
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json",
        wsgi_app,
        headers={"Authorization": f"Token {tokens['superuser']}"},
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    seen: set[tuple[str, int]] = set()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for token in tokens.values():
                fuzz(operation, mode, token, seen)
    # The fuzzing reached past the permission checks, not only refusals.
    assert any(status < 400 for _, status in seen)
    assert {status for _, status in seen} >= {200, 400, 403, 404}
