"""Shared pieces of the JSON API."""

from rest_framework import permissions
from rest_framework.views import exception_handler as drf_exception_handler

from mlframework.core import roles


def exception_handler(exc, context):
    """DRF's handler, with every error body shaped {"error": ..., "fields": {...}}."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        body = {"error": str(data["detail"]), "fields": {}}
    elif isinstance(data, dict):
        fields = {
            key: [str(m) for m in (value if isinstance(value, list) else [value])]
            for key, value in data.items()
            if key != "non_field_errors"
        }
        general = data.get("non_field_errors") or ["The request has invalid fields."]
        body = {"error": str(general[0]), "fields": fields}
    else:
        body = {"error": " ".join(str(m) for m in data), "fields": {}}
    response.data = body
    return response


class HasPermission(permissions.BasePermission):
    """DRF permission for one platform permission, e.g. HasPermission.of(TRAIN)."""

    required = roles.VIEW

    def has_permission(self, request, view) -> bool:
        return bool(request.user and roles.has(request.user, self.required))

    @classmethod
    def of(cls, permission: str) -> type:
        return type(f"Has_{permission.split('.')[1]}", (cls,), {"required": permission})
