"""The interface language: a user's choice, then Accept-Language, then
config.yaml's web.language; the header menu; login; <html lang>."""

import pytest
from django.test import Client
from django.urls import reverse

from conftest import PASSWORD
from mlframework.core import language
from mlframework.core.models import Profile

pytestmark = [
    pytest.mark.django_db(databases=["default", "events"]),
    pytest.mark.usefixtures("pt_br_catalogue"),
]

HOME_PT = "Eventos recentes"
HOME_EN = "Recent events"


def _home(client, **headers):
    response = client.get(reverse("home"), headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def test_a_users_choice_wins_over_the_browser(client, viewer):
    Profile.objects.create(user=viewer, language="pt-br")
    client.force_login(viewer)
    body = _home(client, accept_language="en-US,en;q=0.9")
    assert HOME_PT in body and HOME_EN not in body
    assert '<html lang="pt-br">' in body


def test_english_chosen_wins_over_a_portuguese_browser(client, viewer):
    Profile.objects.create(user=viewer, language="en")
    client.force_login(viewer)
    body = _home(client, accept_language="pt-BR,pt;q=0.9")
    assert HOME_EN in body and '<html lang="en">' in body


def test_a_user_without_a_choice_gets_the_browsers_language(viewer_client):
    body = _home(viewer_client, accept_language="pt-BR,pt;q=0.9,en;q=0.5")
    assert HOME_PT in body and '<html lang="pt-br">' in body


def test_plain_portuguese_in_the_browser_means_brazilian(viewer_client):
    body = _home(viewer_client, accept_language="pt")
    assert HOME_PT in body


def test_without_a_choice_or_a_known_browser_language_web_language_decides(
    viewer_client, settings
):
    body = _home(viewer_client, accept_language="de-DE,fr;q=0.8")
    assert HOME_EN in body and '<html lang="en">' in body
    # web.language becomes LANGUAGE_CODE (mlframework/settings.py).
    settings.LANGUAGE_CODE = "pt-br"
    body = _home(viewer_client, accept_language="de-DE,fr;q=0.8")
    assert HOME_PT in body and '<html lang="pt-br">' in body


def test_the_login_page_follows_the_browser(client):
    response = client.get(reverse("login"), headers={"accept-language": "pt-BR"})
    body = response.content.decode()
    assert "Usuário" in body and "Senha" in body and '<html lang="pt-br">' in body


def test_logging_in_takes_the_users_choice(client, viewer):
    Profile.objects.create(user=viewer, language="pt-br")
    response = client.post(
        reverse("login"), {"username": viewer.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.session[language.SESSION_KEY] == "pt-br"
    assert HOME_PT in _home(client, accept_language="en")


def test_a_second_user_in_the_same_browser_does_not_inherit_the_choice(
    client, viewer, analyst
):
    Profile.objects.create(user=viewer, language="pt-br")
    client.force_login(viewer)
    assert HOME_PT in _home(client)
    client.post(reverse("logout"))
    client.force_login(analyst)
    assert HOME_EN in _home(client, accept_language="en")


def test_a_session_from_before_the_choice_existed_reads_the_profile(client, viewer):
    client.force_login(viewer)
    session = client.session
    del session[language.SESSION_KEY]
    session.save()
    Profile.objects.create(user=viewer, language="pt-br")
    assert HOME_PT in _home(client, accept_language="en")


# --- the menu ----------------------------------------------------------------


def test_every_page_has_the_language_menu(viewer_client):
    body = _home(viewer_client)
    assert 'data-testid="language-menu"' in body
    assert f'action="{reverse("language")}"' in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert "Português (Brasil)" in body and 'value="pt-br"' in body


def test_the_menu_marks_the_current_choice(viewer_client):
    viewer_client.post(reverse("language"), {"language": "pt-br", "next": "/"})
    body = _home(viewer_client)
    assert 'value="pt-br" lang="pt-br" selected' in body


def test_choosing_a_language_saves_it_and_goes_back(viewer_client, viewer):
    events = reverse("events:list")
    response = viewer_client.post(
        reverse("language"), {"language": "pt-br", "next": events}
    )
    assert response.status_code == 302 and response["Location"] == events
    assert Profile.objects.get(user=viewer).language == "pt-br"
    page = viewer_client.get(events, headers={"accept-language": "en"})
    assert "<h1>Eventos</h1>" in page.content.decode()


def test_the_answer_to_the_choice_is_already_in_the_new_language(viewer_client):
    response = viewer_client.post(
        reverse("language"), {"language": "pt-br"}, follow=True
    )
    assert HOME_PT in response.content.decode()


def test_choosing_the_browsers_language_clears_the_choice(viewer_client, viewer):
    Profile.objects.create(user=viewer, language="pt-br")
    viewer_client.post(reverse("language"), {"language": ""})
    assert Profile.objects.get(user=viewer).language == ""
    assert HOME_EN in _home(viewer_client, accept_language="en")
    assert HOME_PT in _home(viewer_client, accept_language="pt-BR")


def test_it_refuses_an_unknown_language_and_changes_nothing(viewer_client, viewer):
    Profile.objects.create(user=viewer, language="en")
    response = viewer_client.post(
        reverse("language"), {"language": "klingon"}, follow=True
    )
    assert "Choose one of the languages offered." in response.content.decode()
    assert Profile.objects.get(user=viewer).language == "en"


def test_it_never_redirects_off_the_site(viewer_client):
    response = viewer_client.post(
        reverse("language"), {"language": "en", "next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_choosing_needs_login(client):
    response = client.post(reverse("language"), {"language": "pt-br"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Profile.objects.exists()


def test_choosing_needs_no_role(client, nobody):
    client.force_login(nobody)
    response = client.post(reverse("language"), {"language": "pt-br"})
    assert response.status_code == 302
    assert Profile.objects.get(user=nobody).language == "pt-br"


def test_choosing_is_post_only(viewer_client, viewer):
    response = viewer_client.get(reverse("language"), {"language": "pt-br"})
    assert response.status_code == 405
    assert not Profile.objects.filter(user=viewer).exists()


def test_choosing_needs_the_csrf_token(viewer):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(viewer)
    response = browser.post(reverse("language"), {"language": "pt-br"})
    assert response.status_code == 403
    assert not Profile.objects.filter(user=viewer).exists()


def test_choose_refuses_a_code_it_does_not_offer(rf, viewer):
    request = rf.post("/language")
    request.user = viewer
    request.session = {}
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        language.choose(request, "fr")
