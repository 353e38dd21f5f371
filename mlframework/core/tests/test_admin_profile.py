"""The language preference on the admin's user change page."""

import pytest
from django.urls import reverse

from mlframework.core.models import Profile

pytestmark = [
    pytest.mark.django_db(databases=["default", "events"]),
    pytest.mark.usefixtures("pt_br_catalogue"),
]


def _change_form(user) -> dict:
    return {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "date_joined_0": "2026-12-01",
        "date_joined_1": "10:00:00",
        "groups": [group.pk for group in user.groups.all()],
    }


def test_the_user_change_page_has_the_language(admin_client_, viewer):
    response = admin_client_.get(reverse("admin:auth_user_change", args=[viewer.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="language"' in body
    assert "Português (Brasil)" in body


def test_an_admin_sets_a_users_language(admin_client_, viewer, client):
    data = _change_form(viewer) | {"language": "pt-br"}
    response = admin_client_.post(
        reverse("admin:auth_user_change", args=[viewer.pk]), data
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Profile.objects.get(user=viewer).language == "pt-br"
    # Taken at the user's next login.
    client.force_login(viewer)
    page = client.get(reverse("home"), headers={"accept-language": "en"})
    assert "Eventos recentes" in page.content.decode()


def test_it_refuses_a_language_it_does_not_offer(admin_client_, viewer):
    data = _change_form(viewer) | {"language": "fr"}
    response = admin_client_.post(
        reverse("admin:auth_user_change", args=[viewer.pk]), data
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Profile.objects.filter(user=viewer).exists()


def test_the_page_shows_the_saved_choice(admin_client_, viewer):
    Profile.objects.create(user=viewer, language="pt-br")
    response = admin_client_.get(reverse("admin:auth_user_change", args=[viewer.pk]))
    assert '<option value="pt-br" selected>' in response.content.decode()


def test_the_add_page_stays_djangos_own(admin_client_):
    response = admin_client_.get(reverse("admin:auth_user_add"))
    assert response.status_code == 200
    assert 'name="language"' not in response.content.decode()


def test_the_admin_speaks_portuguese_to_a_portuguese_admin(admin_client_, superuser):
    Profile.objects.create(user=superuser, language="pt-br")
    admin_client_.force_login(superuser)
    response = admin_client_.get(reverse("admin:index"))
    body = response.content.decode()
    # Django's own strings and ours (app names).
    assert "Registro de modelos" in body and "Registro de eventos" in body
    assert "Sair" in body or "Encerrar sessão" in body
