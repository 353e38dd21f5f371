from django.contrib import messages
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.http import require_GET, require_POST

from mlframework.core import api, http, language, roles
from mlframework.core.forms import LanguageForm
from mlframework.events import pages


@require_GET
@roles.require(roles.VIEW)
def home(request):
    return render(request, "core/home.html", {"events": pages.recent(10)})


@require_POST
def choose_language(request):
    # Any signed-in user may choose their own language: no role needed.
    form = LanguageForm(request.POST)
    if form.is_valid():
        language.choose(request, form.cleaned_data["language"])
    else:
        messages.error(request, _("Choose one of the languages offered."))
    return http.redirect_back(request, "home")


# Django's own error answers (no URL matched, a bad request, a crash outside
# DRF): JSON in the API's error shape under /api/, Django's pages elsewhere.


def bad_request(request, exception):
    if api.is_api(request):
        return api.error_response(400, "Bad request.")
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if api.is_api(request):
        return api.error_response(403, str(exception) or "Permission denied.")
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if api.is_api(request):
        return api.error_response(404, f"There is no API endpoint {request.path}.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if api.is_api(request):
        return api.error_response(
            500, "Internal server error; the details are in the server log."
        )
    return defaults.server_error(request)
