"""Realised performance of a model version in JSON: what its Performance page
shows (monitor/realised.py). Token or session authentication."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from mlframework.core import roles
from mlframework.core.api import HasPermission
from monitor import realised
from registry.models import ModelVersion


class PerformanceView(APIView):
    permission_classes = [HasPermission.of(roles.VIEW)]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk: int):
        version = get_object_or_404(ModelVersion.objects.select_related("model"), pk=pk)
        return Response(realised.performance(version).to_json())
