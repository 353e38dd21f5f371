"""Records each /api/ request for the API usage page."""

from __future__ import annotations

import time

from django.utils import timezone

from mlframework.metrics.middleware import endpoint_name
from mlframework.usage import recorder
from mlframework.usage.models import ApiRequest

PREFIX = "/api/"


def note_model(request, name: str) -> None:
    """A view names the model a request used when its URL does not (the
    predict endpoint has it in its body). Takes Django's or DRF's request."""
    target = getattr(request, "_request", request)  # DRF's wraps Django's
    target.usage_model = name


class ApiUsageMiddleware:
    """After AuthenticationMiddleware: the user is known (DRF's token
    authentication sets it on Django's request too)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(PREFIX):
            return self.get_response(request)
        at = timezone.now()
        started = time.perf_counter()
        response = self.get_response(request)
        took = (time.perf_counter() - started) * 1000
        recorder.after_response(_row(request, response.status_code, at, took))
        return response


def _row(request, status: int, at, took: float) -> ApiRequest:
    user = getattr(request, "user", None)
    known = user is not None and user.is_authenticated
    match = getattr(request, "resolver_match", None)
    model = getattr(request, "usage_model", "") or (
        match.kwargs.get("name", "") if match else ""
    )
    return ApiRequest(
        at=at,
        user_id=user.pk if known else None,
        username=user.get_username() if known else "",
        endpoint=endpoint_name(request)[:100],
        model_name=str(model)[:63],
        method=request.method[:8],
        status=status,
        duration_ms=round(took, 3),
    )
