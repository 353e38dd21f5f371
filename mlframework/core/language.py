"""The interface language of each request.

A user's own choice (Profile.language) wins; a user without one gets what
LocaleMiddleware chose before us: the browser's Accept-Language, else
config.yaml's web.language (LANGUAGE_CODE). The choice is copied into the
session at login and when changed, so that no request pays a query for it.
"""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils import translation

from mlframework.core.models import Profile

SESSION_KEY = "mlf_language"
CODES = tuple(code for code, _name in settings.LANGUAGES)


def preference(user) -> str:
    """The user's chosen language code, or "" when they chose none."""
    profile = Profile.objects.filter(user=user).only("language").first()
    return profile.language if profile else ""


def choose(request, language: str) -> None:
    """Record the signed-in user's choice ("" = none) and use it at once."""
    if language and language not in CODES:
        raise ValueError(f"unknown language {language!r}")
    Profile.objects.update_or_create(user=request.user, defaults={"language": language})
    request.session[SESSION_KEY] = language
    _activate(request, language or _from_browser(request))


@receiver(user_logged_in)
def remember_at_login(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = preference(user)


def _from_browser(request) -> str:
    # What LocaleMiddleware picks for anyone: Accept-Language, else
    # LANGUAGE_CODE (nothing here sets Django's language cookie).
    return translation.get_language_from_request(request)


def _activate(request, language: str) -> None:
    translation.activate(language)
    request.LANGUAGE_CODE = translation.get_language()


class UserLanguageMiddleware:
    """After AuthenticationMiddleware: a signed-in user's choice wins."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if SESSION_KEY not in request.session:  # a session older than login
                request.session[SESSION_KEY] = preference(user)
            chosen = request.session[SESSION_KEY]
            if chosen in CODES and chosen != request.LANGUAGE_CODE:
                _activate(request, chosen)
        return self.get_response(request)
