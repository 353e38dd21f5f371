"""The core pages in pt-BR: nothing of their English left."""

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import translation

from mlframework.core.models import Profile
from mlframework.core.tests.english import english_left, visible_text

pytestmark = [
    pytest.mark.django_db(databases=["default", "events"]),
    pytest.mark.usefixtures("pt_br_catalogue"),
]


@pytest.fixture
def portuguese(client, viewer):
    Profile.objects.create(user=viewer, language="pt-br")
    client.force_login(viewer)
    return client


def test_the_home_page(portuguese):
    response = portuguese.get(reverse("home"))
    assert response.status_code == 200
    assert english_left(response) == []
    body = response.content.decode()
    assert "Boas-vindas" in body and "Modelos" in body and "Disparos" in body


def test_the_login_page():
    response = Client().get(reverse("login"), headers={"accept-language": "pt-BR"})
    assert english_left(response) == []
    assert "Entrar" in response.content.decode()


def test_a_wrong_password_is_told_in_portuguese(viewer):
    response = Client().post(
        reverse("login"),
        {"username": viewer.username, "password": "wrong"},
        headers={"accept-language": "pt-BR"},
    )
    assert "Usuário e senha não conferem" in response.content.decode()


def test_the_refusal_page(client, nobody):
    Profile.objects.create(user=nobody, language="pt-br")
    client.force_login(nobody)
    response = client.get(reverse("registry:index"))
    assert response.status_code == 403
    assert english_left(response) == []
    assert "Sua conta não tem a permissão" in response.content.decode()
    assert "(ver a plataforma)" in response.content.decode()


def test_the_not_found_page(portuguese):
    response = portuguese.get("/nothing-here/")
    assert response.status_code == 404
    assert english_left(response) == []
    assert "Não há nada neste endereço." in response.content.decode()


def test_the_server_error_and_locked_out_pages():
    with translation.override("pt-br"):
        crashed = render_to_string("500.html")
        locked = render_to_string(
            "registration/locked_out.html", {"message": "x", "minutes": 15}
        )
    assert "Algo deu errado" in crashed and '<html lang="pt-br">' in crashed
    assert "Something" not in visible_text(crashed)
    assert "por 15 minutos" in locked and "minutes" not in visible_text(locked)


def test_the_check_finds_the_english_of_an_english_page(viewer_client):
    response = viewer_client.get(reverse("home"), headers={"accept-language": "en"})
    left = english_left(response)
    assert "templates/core/home.html: 'Recent events'" in left
    assert "templates/base.html: 'Log out'" in left
