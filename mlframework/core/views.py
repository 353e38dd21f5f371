from django.shortcuts import render
from django.views import defaults
from django.views.decorators.http import require_GET

from mlframework.core import api, roles
from mlframework.events import pages


@require_GET
@roles.require(roles.VIEW)
def home(request):
    return render(request, "core/home.html", {"events": pages.recent(10)})


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
