"""On-demand drift checks in JSON: POST a file (multipart) or
{"datasource", "sql"} (JSON) against a version; token or session auth; errors
in the API's {"error", "fields"} shape."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from mlframework.core import roles
from mlframework.core.parsers import JSONBodyParser
from monitor.drift import checks
from registry import datasets
from registry.api import PayloadTooLarge
from registry.errors import DatasetError
from registry.models import ModelVersion


class CanCheck(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return any(roles.has(request.user, p) for p in checks.PERMISSIONS)


class DriftCheckSerializer(serializers.Serializer):
    file = serializers.FileField(
        required=False, help_text="CSV, Parquet or Excel (.xlsx) (multipart)."
    )
    datasource = serializers.CharField(required=False, max_length=64)
    sql = serializers.CharField(required=False, max_length=100_000)

    def validate(self, data: dict) -> dict:
        has_file = bool(data.get("file"))
        has_query = bool(data.get("datasource") or data.get("sql"))
        if has_file and has_query:
            raise serializers.ValidationError("Give a file or a query, not both.")
        if not has_file and not has_query:
            raise serializers.ValidationError(
                'Give a file (multipart) or {"datasource", "sql"}.'
            )
        if not has_file:
            missing = {
                name: ["This field is required with a query."]
                for name in ("datasource", "sql")
                if not data.get(name)
            }
            if missing:
                raise serializers.ValidationError(missing)
        return data


class DriftCheckView(APIView):
    permission_classes = [CanCheck]
    parser_classes = [JSONBodyParser, MultiPartParser, FormParser]

    @extend_schema(request=DriftCheckSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        version = get_object_or_404(ModelVersion.objects.select_related("model"), pk=pk)
        try:
            datasets.check_request_size(int(request.META.get("CONTENT_LENGTH") or 0))
        except DatasetError as exc:
            raise PayloadTooLarge(str(exc)) from exc
        serializer = DriftCheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            if data.get("file"):
                report = checks.check_file(version, data["file"])
            else:
                report = checks.check_query(version, data["datasource"], data["sql"])
        except checks.CheckError as exc:
            raise ValidationError(
                {exc.field: [str(exc)]}
                if exc.field
                else {"non_field_errors": [str(exc)]}
            ) from exc
        return Response(
            {
                "model": version.model.name,
                "version": version.number,
                "source": "file" if data.get("file") else "query",
                "report": report.to_json(),
            }
        )
