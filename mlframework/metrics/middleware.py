"""Times every request for /metrics, under its URL name (bounded label
values: never the raw path)."""

from __future__ import annotations

import time

from django.conf import settings

from mlframework.metrics import instruments

UNRESOLVED = "<unresolved>"  # 404s and paths outside the URLconf
STATIC = "<static>"  # served by whitenoise before any URL is resolved


def endpoint_name(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None or not match.url_name:
        static = "/" + settings.STATIC_URL.lstrip("/")
        return STATIC if request.path_info.startswith(static) else UNRESOLVED
    return match.view_name  # namespaced: "showroom-api:predict"


class RequestMetricsMiddleware:
    """First in MIDDLEWARE, so the time covers every other middleware too."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        instruments.observe_request(
            endpoint_name(request),
            request.method,
            response.status_code,
            time.perf_counter() - started,
        )
        return response
