"""Shared pieces of the JSON API: its one error shape, its schema view, its
permission class (the JSON parser is in mlframework.core.parsers).

Every answer under /api/ that is not a success is {"error": str, "fields":
{name: [str]}}: DRF's errors through `exception_handler`, Django's own 400,
403, 404 and 500 through `error_response` (see mlframework.core.views).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import JsonResponse
from drf_spectacular.views import SpectacularAPIView
from rest_framework import permissions, status
from rest_framework.exceptions import ParseError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from mlframework.core import roles
from mlframework.core.parsers import BodyTooLarge

log = logging.getLogger(__name__)

API_PREFIX = "/api/"


def error_body(message: str, fields: dict | None = None) -> dict:
    return {"error": message, "fields": fields or {}}


def _flatten(where: str, value) -> list[tuple[str, str]]:
    """DRF's nested errors as (field, message): a list child's error under
    `rows[2]`, a nested object's under `row.island`, never a Python repr."""
    if isinstance(value, dict):
        return [
            pair
            for key, inner in value.items()
            for pair in _flatten(
                f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}",
                inner,
            )
        ]
    if isinstance(value, list):
        return [pair for item in value for pair in _flatten(where, item)]
    return [(where, str(value))]


def _shape(data) -> dict:
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        return error_body(str(data["detail"]))
    if isinstance(data, dict):
        fields: dict[str, list[str]] = {}
        for key, value in data.items():
            if key == "non_field_errors":
                continue
            for where, message in _flatten(str(key), value):
                fields.setdefault(where, []).append(message)
        general = [m for _, m in _flatten("", data.get("non_field_errors") or [])]
        return error_body(
            general[0] if general else "The request has invalid fields.", fields
        )
    return error_body(" ".join(m for _, m in _flatten("", data)))


def exception_handler(exc, context):
    """DRF's handler, with every error body shaped {"error": ..., "fields": {...}};
    Django's too-large body answers 413, and an unexpected error a logged 500
    whose body never holds the traceback."""
    if isinstance(exc, RequestDataTooBig):
        exc = BodyTooLarge(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    elif isinstance(exc, SuspiciousOperation):
        # Django's own request limits (too many fields or files): its 400.
        log.warning("Refused request: %s", exc)
        exc = ParseError(f"The request is refused: {exc}")
    response = drf_exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        log.error("Unexpected error in %s", type(view).__name__, exc_info=exc)
        set_rollback()  # as DRF does for its own errors: nothing half-written
        return Response(
            error_body("Internal server error; the details are in the server log."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    response.data = _shape(response.data)
    return response


def error_response(status_code: int, message: str) -> JsonResponse:
    return JsonResponse(error_body(message), status=status_code)


def is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema as YAML or JSON; its errors as JSON like the rest of
    the API (a YAML error body helps no client)."""

    def handle_exception(self, exc):
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


class HasPermission(permissions.BasePermission):
    """DRF permission for one platform permission, e.g. HasPermission.of(TRAIN)."""

    required = roles.VIEW

    def has_permission(self, request, view) -> bool:
        return bool(request.user and roles.has(request.user, self.required))

    @classmethod
    def of(cls, permission: str) -> type:
        return type(f"Has_{permission.split('.')[1]}", (cls,), {"required": permission})
