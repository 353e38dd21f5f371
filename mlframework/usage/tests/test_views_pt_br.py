"""The API usage page in pt-BR."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from mlframework.core.models import Profile
from mlframework.core.tests.english import english_left
from mlframework.usage.models import ApiRequest

pytestmark = [
    pytest.mark.django_db(databases=["default", "events"]),
    pytest.mark.usefixtures("pt_br_catalogue"),
]


@pytest.fixture
def portuguese(client, viewer):
    Profile.objects.create(user=viewer, language="pt-br")
    client.force_login(viewer)
    return client


def test_the_page_in_portuguese_with_grouped_counts_and_days_first(portuguese, viewer):
    now = timezone.now()
    ApiRequest.objects.bulk_create(
        ApiRequest(
            at=now - dt.timedelta(minutes=5),
            user_id=viewer.pk,
            username=viewer.username,
            endpoint="showroom-api:predict",
            model_name="penguins",
            method="POST",
            status=200,
            duration_ms=12.5,
        )
        for _ in range(1234)
    )
    response = portuguese.get(
        reverse("usage:api_usage"), {"period": "7d", "grouping": "day"}
    )
    assert response.status_code == 200, response.content.decode()[:300]
    assert english_left(response, data=("vera",)) == []
    body = response.content.decode()
    assert "Requisições por dia" in body and "<th>Usuário</th>" in body
    assert 'data-col="requests">1.234<' in body
    assert 'data-col="p50">12,5<' in body
    chart = response.context["chart"]
    assert chart["labels"][-1] == timezone.localtime(now).strftime("%d/%m/%Y")


def test_a_refused_choice_is_told_in_portuguese(portuguese):
    response = portuguese.get(
        reverse("usage:api_usage"), {"period": "30d", "grouping": "hour"}
    )
    assert response.status_code == 400
    assert "por hora cobre no máximo 7 dias" in response.content.decode()
