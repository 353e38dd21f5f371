"""The Monitor's JSON API: stored drift reports per version and per run.

Token or session authentication and the viewer permission, as the registry's
API; errors shaped {"error", "fields"} (mlframework.core.api).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from dispatch.models import DispatchRun
from mlframework.core import roles
from mlframework.core.api import HasPermission
from monitor.drift import pages
from registry.models import ModelVersion

CanView = HasPermission.of(roles.VIEW)


class DriftQuerySerializer(serializers.Serializer):
    runs = serializers.IntegerField(
        required=False,
        default=pages.DEFAULT_RUNS,
        min_value=1,
        max_value=pages.MAX_RUNS,
        help_text="How many of the latest runs to list.",
    )
    run = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="A run id: its full report is included.",
    )


class DriftSummarySerializer(serializers.Serializer):
    run = serializers.IntegerField(source="run_id")
    version = serializers.IntegerField(source="version_id")
    dispatch = serializers.IntegerField(source="dispatch_id")
    created = serializers.DateTimeField()
    state = serializers.CharField(help_text="checked, unchecked or failed")
    verdict = serializers.CharField(help_text="drift, no drift or not checked")
    reason = serializers.CharField(help_text="Why it was not checked.")
    rows = serializers.IntegerField()
    drift_share = serializers.FloatField(allow_null=True)
    dataset_drift = serializers.BooleanField()
    prediction_drift = serializers.BooleanField()
    drifted = serializers.ListField(child=serializers.CharField())
    important_drifted = serializers.ListField(child=serializers.CharField())
    seconds = serializers.FloatField()


class ReportField(serializers.JSONField):
    """monitor.drift.report.DriftReport.to_json(): features by permutation
    importance, each with method, score, threshold, PSI, shares and bins."""

    def to_representation(self, value):
        return value.to_json()


class RunDriftSerializer(DriftSummarySerializer):
    report = ReportField(read_only=True)


class VersionDriftSerializer(serializers.Serializer):
    version = serializers.DictField()
    runs = DriftSummarySerializer(many=True)
    report = RunDriftSerializer(allow_null=True)


class VersionDriftView(APIView):
    permission_classes = [CanView]

    @extend_schema(
        parameters=[DriftQuerySerializer],
        responses=VersionDriftSerializer,
        description="The version's latest runs with their drift summary, "
        "newest first; with ?run= that run's full report too.",
    )
    def get(self, request, pk: int):
        version = get_object_or_404(ModelVersion.objects.select_related("model"), pk=pk)
        query = DriftQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        report = None
        if (run_id := query.validated_data.get("run")) is not None:
            try:
                report = pages.version_report(version, run_id)
            except pages.DriftPageError as exc:
                raise ValidationError({exc.field: [str(exc)]}) from exc
        runs = pages.version_summaries(version, query.validated_data["runs"])
        return Response(
            {
                "version": {
                    "id": version.pk,
                    "model": version.model.name,
                    "number": version.number,
                },
                "runs": DriftSummarySerializer(runs, many=True).data,
                "report": RunDriftSerializer(report).data if report else None,
            }
        )


class RunDriftView(APIView):
    permission_classes = [CanView]

    @extend_schema(
        parameters=[OpenApiParameter("pk", int, OpenApiParameter.PATH)],
        responses=RunDriftSerializer,
    )
    def get(self, request, pk: int):
        run = get_object_or_404(DispatchRun, pk=pk)
        report = pages.run_report(run)
        if report is None:
            raise NotFound(f"Run {run.pk} has no drift report (yet).")
        return Response(RunDriftSerializer(report).data)
