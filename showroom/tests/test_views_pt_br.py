"""The Showroom in pt-BR: translated pages, numbers as Brazilians write them."""

import re

import pytest
from django.urls import reverse

from mlframework.core.models import Profile
from mlframework.core.tests.english import english_left
from showroom.tests.test_views import form_data

pytestmark = [
    pytest.mark.django_db(databases=["default", "events"]),
    pytest.mark.usefixtures("pt_br_catalogue"),
]

DATA = ("penguins", "production", "species")


@pytest.fixture
def portuguese(client, analyst):
    Profile.objects.create(user=analyst, language="pt-br")
    client.force_login(analyst)
    return client


def test_the_index(portuguese, tiny_classifier):
    response = portuguese.get(reverse("showroom:index"))
    assert response.status_code == 200
    assert english_left(response, data=DATA) == []
    assert "Testar" in response.content.decode()


def test_the_index_without_models(portuguese):
    response = portuguese.get(reverse("showroom:index"))
    assert "Ainda não há modelo para testar" in response.content.decode()


def test_the_model_page_writes_training_ranges_in_portuguese(
    portuguese, tiny_classifier
):
    response = portuguese.get(reverse("showroom:model", args=["penguins"]))
    assert response.status_code == 200
    assert english_left(response, data=DATA) == []
    body = response.content.decode()
    # body_mass_g: 2700 to 6300 g, mean 4185.13... (six digits in the help).
    assert "faixa no treinamento: 2.700 a 6.300, média 4.185,13" in body
    assert re.search(r'data-testid="score">0,\d+<', body)
    assert "Amostra dos dados de treinamento" in body


def test_a_prediction_in_portuguese(portuguese, tiny_classifier):
    url = reverse("showroom:predict", args=["penguins"])
    response = portuguese.post(url, form_data(), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert english_left(response, data=DATA) == []
    body = response.content.decode()
    assert re.search(r"probabilidade \d+,\d%", body)
    assert re.search(r'data-testid="latency">\d+,\d<', body)
    assert 'data-label="probabilidade"' in body
    recent = portuguese.get(reverse("showroom:recent", args=["penguins"]))
    assert english_left(recent, data=DATA) == []
    assert re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}", recent.content.decode())


def test_a_refused_case_is_explained_in_portuguese(portuguese, tiny_classifier):
    url = reverse("showroom:predict", args=["penguins"])
    response = portuguese.post(url, form_data(bill_length_mm="long"))
    assert response.status_code == 422
    assert "bill_length_mm: esperava um número, recebeu" in response.content.decode()


def test_the_case_query_page(portuguese, tiny_classifier):
    response = portuguese.get(reverse("showroom:case_source", args=["penguins"]))
    assert response.status_code == 200
    assert english_left(response, data=DATA) == []
    body = response.content.decode()
    assert "Fonte de dados" in body and "No máximo" in body


def test_a_missing_version(portuguese, tiny_classifier):
    response = portuguese.get(
        reverse("showroom:model", args=["penguins"]), {"ref": "99"}
    )
    assert response.status_code == 404
    assert english_left(response, data=DATA) == []
    assert "O modelo penguins não tem a versão 99." in response.content.decode()
