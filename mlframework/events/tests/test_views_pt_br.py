"""The Events page in pt-BR: labels translated, stored messages as written."""

import pytest
from django.urls import reverse

from mlframework.core.models import Profile
from mlframework.core.tests.english import english_left
from mlframework.events.log import log_event

pytestmark = [
    pytest.mark.django_db(databases=["default", "events"]),
    pytest.mark.usefixtures("pt_br_catalogue"),
]


@pytest.fixture
def portuguese(client, viewer):
    Profile.objects.create(user=viewer, language="pt-br")
    client.force_login(viewer)
    return client


def test_the_labels_are_translated_and_messages_shown_as_written(portuguese):
    log_event("registry", "dataset.uploaded", "Dataset sales uploaded: 3 rows")
    response = portuguese.get(reverse("events:list"))
    assert response.status_code == 200
    assert english_left(response) == []
    body = response.content.decode()
    assert "Dataset sales uploaded: 3 rows" in body  # as written
    assert "<th>Quando</th>" in body and "Informação" in body
    assert "qualquer nível" in body and "Filtrar" in body


def test_the_date_filters_stay_iso_for_the_date_inputs(portuguese):
    response = portuguese.get(reverse("events:list"), {"since": "2026-12-01"})
    assert response.status_code == 200
    assert 'type="date" name="since" value="2026-12-01"' in response.content.decode()


def test_a_wrong_range_is_told_in_portuguese(portuguese):
    response = portuguese.get(
        reverse("events:list"), {"since": "2026-12-02", "until": "2026-12-01"}
    )
    assert "não pode ser anterior à data" in response.content.decode()
