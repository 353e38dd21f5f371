"""The registry's JSON API: upload, snapshot a query, train, job status,
models and versions.

Token or session authentication; errors shaped {"error", "fields"}; the
OpenAPI schema at /api/schema/.
"""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils.translation import get_language
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from mlframework.core import roles
from mlframework.core.api import HasPermission
from mlframework.core.parsers import JSONBodyParser
from registry import (
    autogluon,
    challengers,
    datasets,
    fairness,
    fairness_jobs,
    jobs,
    snapshots,
)
from registry.challengers import PromotionRule
from registry.errors import (
    DatasetError,
    FairnessError,
    RegistryError,
    SnapshotError,
    TrainingRefused,
)
from registry.forms import validate_model_name
from registry.models import (
    Challenge,
    Dataset,
    ModelVersion,
    RegisteredModel,
    TrainingJob,
    VersionFairness,
    slug_validator,
)
from registry.shadow import overall as shadow_overall
from registry.training import AUTO, TrainOptions

CanView = HasPermission.of(roles.VIEW)


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."
    default_code = "too_large"


CanTrain = HasPermission.of(roles.TRAIN)


# --- Serializers ------------------------------------------------------------


class DatasetSerializer(serializers.ModelSerializer):
    columns = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "id",
            "name",
            "sha256",
            "format",
            "size_bytes",
            "rows",
            "columns",
            "source",
            "datasource",
            "query",
            "params",
            "snapshot_at",
            "created",
        ]

    def get_columns(self, dataset) -> list[dict]:
        return [
            {k: column.get(k) for k in ("name", "dtype", "kind", "missing", "distinct")}
            for column in dataset.profile.get("columns", [])
        ]


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, Parquet or Excel (.xlsx).")
    name = serializers.CharField(max_length=200, required=False, default="")


class QuerySnapshotSerializer(serializers.Serializer):
    datasource = serializers.CharField(
        max_length=100, help_text="A datasource of config.yaml."
    )
    query = serializers.CharField(
        help_text="One SELECT, run read-only; parameters written :name."
    )
    params = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        default=dict,
        help_text="The value of each :name parameter, bound by the driver.",
    )
    name = serializers.CharField(max_length=200, required=False, default="")


class TrainSerializer(serializers.Serializer):
    dataset = serializers.IntegerField(help_text="Dataset id from the upload.")
    model_name = serializers.CharField(max_length=63, validators=[validate_model_name])
    label = serializers.CharField(max_length=200)
    problem_type = serializers.ChoiceField(
        choices=[AUTO, *autogluon.PROBLEM_TYPES], default=AUTO
    )
    eval_metric = serializers.ChoiceField(
        choices=["", *autogluon.ALL_METRICS, *autogluon.METRIC_ALIASES],
        default="",
        allow_blank=True,
    )
    preset = serializers.CharField(required=False, default="")
    time_limit = serializers.IntegerField(required=False, default=0, min_value=0)
    excluded = serializers.ListField(
        child=serializers.CharField(), required=False, default=list
    )
    seed = serializers.IntegerField(required=False, default=0, min_value=0)
    make_production = serializers.BooleanField(required=False, default=False)
    sensitive = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text="Columns to measure fairness per group on, once trained.",
    )

    def validate_dataset(self, value: int) -> Dataset:
        dataset = Dataset.objects.filter(pk=value).first()
        if dataset is None:
            raise serializers.ValidationError(f"There is no dataset {value}.")
        return dataset

    def validate_preset(self, value: str) -> str:
        if value and value not in settings.CONFIG.training.presets:
            raise serializers.ValidationError(
                f"Choose one of {', '.join(settings.CONFIG.training.presets)}."
            )
        return value

    def options(self) -> TrainOptions:
        return TrainOptions.from_choices(self.validated_data)


class JobSerializer(serializers.ModelSerializer):
    queue_position = serializers.SerializerMethodField()
    elapsed_seconds = serializers.SerializerMethodField()
    version = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "status",
            "model_name",
            "dataset",
            "options",
            "stage",
            "models_trained",
            "queue_position",
            "elapsed_seconds",
            "cancel_requested",
            "error",
            "version",
            "created",
            "started",
            "finished",
            "url",
        ]

    def get_queue_position(self, job) -> int | None:
        return job.queue_position()

    def get_elapsed_seconds(self, job) -> float:
        return round(jobs.elapsed_seconds(job), 1)

    def get_version(self, job) -> dict | None:
        if job.version is None:
            return None
        return {"model": job.version.model.name, "number": job.version.number}

    def get_url(self, job) -> str:
        return job.get_absolute_url()


class VersionSummarySerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")
    aliases = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "model",
            "number",
            "status",
            "aliases",
            "label",
            "problem_type",
            "eval_metric",
            "scores",
            "created",
        ]

    def get_aliases(self, version) -> list[str]:
        return version.alias_names()


class ContractField(serializers.JSONField):
    """A version's typed schema or lineage, as the JSON it is stored as."""

    def to_representation(self, value):
        return value.to_json()


class VersionSerializer(VersionSummarySerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)
    features = ContractField(
        read_only=True, help_text="The input columns, in training order."
    )
    lineage = ContractField(read_only=True)

    class Meta(VersionSummarySerializer.Meta):
        fields = [
            *VersionSummarySerializer.Meta.fields,
            "features",
            "classes",
            "lineage",
            "leaderboard",
            "feature_importance",
            "analysis",
            "analysis_error",
            "evaluation",
            "size_bytes",
            "created_by",
        ]


class ModelSerializer(serializers.ModelSerializer):
    aliases = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()

    class Meta:
        model = RegisteredModel
        fields = ["name", "description", "aliases", "versions", "created"]

    def get_aliases(self, model) -> dict[str, int]:
        return {a.name: a.version.number for a in model.aliases.all()}

    def get_versions(self, model) -> list[int]:
        return [v.number for v in model.versions.all()]


class FairnessSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username", default=None)
    report = serializers.SerializerMethodField()

    class Meta:
        model = VersionFairness
        fields = ["status", "sensitive", "error", "report", "requested_by", "updated"]

    def get_report(self, row) -> dict | None:
        """registry.fairness.FairnessReport as JSON; null until computed."""
        report = fairness.report_of(row)
        return report.to_json() if report is not None else None


class FairnessRequestSerializer(serializers.Serializer):
    sensitive = serializers.ListField(
        child=serializers.CharField(max_length=200),
        allow_empty=False,
        help_text="The sensitive columns, from the version's dataset.",
    )


# --- Views --------------------------------------------------------------------


class DatasetUploadView(APIView):
    permission_classes = [CanTrain]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=UploadSerializer, responses={201: DatasetSerializer})
    def post(self, request):
        try:
            datasets.check_request_size(int(request.META.get("CONTENT_LENGTH") or 0))
        except DatasetError as exc:
            raise PayloadTooLarge(str(exc)) from exc
        serializer = UploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        uploaded = serializer.validated_data["file"]
        try:
            dataset, created = datasets.store_upload(
                uploaded.chunks(),
                filename=uploaded.name,
                name=serializer.validated_data["name"],
                user=request.user,
                language=get_language(),
            )
        except DatasetError as exc:
            raise ValidationError({"file": [str(exc)]}) from exc
        return Response(
            DatasetSerializer(dataset).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class DatasetQueryView(APIView):
    """Snapshot a datasource query's rows into a dataset (201; 200 when the
    same rows were snapshotted before)."""

    permission_classes = [CanTrain]
    parser_classes = [JSONBodyParser]

    @extend_schema(
        request=QuerySnapshotSerializer,
        responses={201: DatasetSerializer, 200: DatasetSerializer},
    )
    def post(self, request):
        serializer = QuerySnapshotSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            dataset, created = snapshots.snapshot_query(
                data["datasource"],
                data["query"],
                params=data["params"],
                name=data["name"],
                user=request.user,
            )
        except SnapshotError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        return Response(
            DatasetSerializer(dataset).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class DatasetView(APIView):
    permission_classes = [CanView]

    @extend_schema(responses=DatasetSerializer)
    def get(self, request, pk: int):
        return Response(DatasetSerializer(get_object_or_404(Dataset, pk=pk)).data)


class TrainView(APIView):
    permission_classes = [CanTrain]
    parser_classes = [JSONBodyParser]

    @extend_schema(request=TrainSerializer, responses={202: JobSerializer})
    def post(self, request):
        serializer = TrainSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            job = jobs.submit(
                serializer.validated_data["dataset"],
                serializer.validated_data["model_name"],
                serializer.options(),
                user=request.user,
            )
        except TrainingRefused as exc:
            raise ValidationError(
                {exc.field: [str(exc)]}
                if exc.field
                else {"non_field_errors": [str(exc)]}
            ) from exc
        except DatasetError as exc:
            raise ValidationError({"dataset": [str(exc)]}) from exc
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class JobView(APIView):
    permission_classes = [CanView]

    @extend_schema(responses=JobSerializer)
    def get(self, request, pk: int):
        job = get_object_or_404(
            TrainingJob.objects.select_related("version__model"), pk=pk
        )
        return Response(JobSerializer(job).data)


class JobCancelView(APIView):
    permission_classes = [CanTrain]

    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request, pk: int):
        job = get_object_or_404(TrainingJob, pk=pk)
        try:
            job = jobs.cancel(job, user=request.user)
        except RegistryError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from exc
        return Response(JobSerializer(job).data)


class ModelListView(APIView):
    permission_classes = [CanView]

    @extend_schema(responses=ModelSerializer(many=True))
    def get(self, request):
        models = RegisteredModel.objects.prefetch_related(
            "aliases__version", "versions"
        )
        return Response(ModelSerializer(models, many=True).data)


class VersionListView(APIView):
    permission_classes = [CanView]

    @extend_schema(responses=VersionSummarySerializer(many=True))
    def get(self, request, name: str):
        model = get_object_or_404(RegisteredModel, name=name)
        versions = model.versions.select_related("model").prefetch_related("aliases")
        return Response(VersionSummarySerializer(versions, many=True).data)


class VersionView(APIView):
    permission_classes = [CanView]

    @extend_schema(responses=VersionSerializer)
    def get(self, request, name: str, ref: str):
        model = get_object_or_404(RegisteredModel, name=name)
        try:
            version = model.version_for(ref)
        except RegistryError as exc:
            raise NotFound(str(exc)) from exc
        return Response(VersionSerializer(version).data)


class FairnessView(APIView):
    """A version's fairness per group: read it (VIEW), or queue it on other
    sensitive columns (TRAIN)."""

    parser_classes = [JSONBodyParser]

    def get_permissions(self):
        return [CanTrain() if self.request.method == "POST" else CanView()]

    def _version(self, name: str, ref: str) -> ModelVersion:
        model = get_object_or_404(RegisteredModel, name=name)
        try:
            version = model.version_for(ref)
        except RegistryError as exc:
            raise NotFound(str(exc)) from exc
        version.model = model
        return version

    @extend_schema(responses=FairnessSerializer)
    def get(self, request, name: str, ref: str):
        version = self._version(name, ref)
        row = fairness.stored(version)
        if row is None:
            raise NotFound(f"The fairness of {version} has not been measured.")
        return Response(FairnessSerializer(row).data)

    @extend_schema(
        request=FairnessRequestSerializer, responses={202: FairnessSerializer}
    )
    def post(self, request, name: str, ref: str):
        version = self._version(name, ref)
        serializer = FairnessRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            row = fairness_jobs.request(
                version, serializer.validated_data["sensitive"], user=request.user
            )
        except FairnessError as exc:
            raise ValidationError({"sensitive": [str(exc)]}) from exc
        return Response(FairnessSerializer(row).data, status=status.HTTP_202_ACCEPTED)


# --- Challengers ------------------------------------------------------------

CanApprove = HasPermission.of(roles.APPROVE)


class ChallengeSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")
    champion = serializers.IntegerField(source="champion.number", default=None)
    challenger = serializers.IntegerField(source="challenger.number")
    proposed_by = serializers.CharField(source="proposed_by.username", default=None)
    decided_by = serializers.CharField(source="decided_by.username", default=None)
    shadows = serializers.SerializerMethodField()
    shadow_realised = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Challenge
        fields = [
            "id",
            "model",
            "alias",
            "champion",
            "challenger",
            "state",
            "comparison",
            "rule",
            "verdict",
            "origin",
            "shadow_runs",
            "shadows",
            "shadow_realised",
            "proposed_by",
            "decided_by",
            "decided_at",
            "reason",
            "created",
            "url",
        ]

    def get_shadows(self, challenge) -> list[dict]:
        return [
            {
                "dispatch_run": shadow.dispatch_run_id,
                "dispatch": shadow.dispatch_name,
                "rows": shadow.rows,
                "agreement": shadow.agreement,
                "mean_abs_difference": shadow.mean_abs_difference,
                "summary": shadow.summary,
                "error": shadow.error,
                "realised": {
                    "state": shadow.realised_state,
                    "reason": shadow.realised_reason,
                    "rows_matched": shadow.realised_rows,
                    "champion": shadow.realised.get("champion", {}),
                    "challenger": shadow.realised.get("challenger", {}),
                    "absent": shadow.realised.get("absent", {}),
                    "computed": shadow.realised_computed,
                },
                "created": shadow.created,
            }
            for shadow in challenge.shadows.all()
        ]

    def get_shadow_realised(self, challenge) -> dict:
        """Both versions' realised metrics on every scored shadow's rows."""
        return shadow_overall(challenge.shadows.all())

    def get_url(self, challenge) -> str:
        return challenge.get_absolute_url()


class ProposeSerializer(serializers.Serializer):
    alias = serializers.CharField(max_length=63, default="production")
    min_improvement = serializers.FloatField(default=0.0)
    max_fairness_gap_increase = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0.0
    )
    needs_approval = serializers.BooleanField(default=False)
    shadow_runs = serializers.IntegerField(default=0, min_value=0, max_value=1000)
    origin = serializers.CharField(max_length=500, required=False, default="")

    def validate_alias(self, value: str) -> str:
        slug_validator(value)
        return value

    def rule(self) -> PromotionRule:
        data = self.validated_data
        return PromotionRule(
            min_improvement=data["min_improvement"],
            max_fairness_gap_increase=data["max_fairness_gap_increase"],
            needs_approval=data["needs_approval"],
        )


class DecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class RollbackSerializer(serializers.Serializer):
    alias = serializers.CharField(max_length=63, default="production")
    reason = serializers.CharField(
        max_length=2000, required=False, default="", allow_blank=True
    )


def _challenges(name: str):
    model = get_object_or_404(RegisteredModel, name=name)
    return model, model.challenges.select_related(
        "model", "champion", "challenger", "proposed_by", "decided_by"
    ).prefetch_related("shadows")


def _refused(exc: RegistryError) -> ValidationError:
    return ValidationError({"non_field_errors": [str(exc)]})


class ChallengeListView(APIView):
    permission_classes = [CanView]

    @extend_schema(responses=ChallengeSerializer(many=True))
    def get(self, request, name: str):
        _model, challenges = _challenges(name)
        return Response(ChallengeSerializer(challenges[:200], many=True).data)


class ChallengeView(APIView):
    permission_classes = [CanView]

    @extend_schema(responses=ChallengeSerializer)
    def get(self, request, name: str, pk: int):
        _model, challenges = _challenges(name)
        return Response(ChallengeSerializer(get_object_or_404(challenges, pk=pk)).data)


class ProposeView(APIView):
    permission_classes = [CanTrain]
    parser_classes = [JSONBodyParser]

    @extend_schema(request=ProposeSerializer, responses={201: ChallengeSerializer})
    def post(self, request, name: str, ref: str):
        model = get_object_or_404(RegisteredModel, name=name)
        try:
            version = model.version_for(ref)
        except RegistryError as exc:
            raise NotFound(str(exc)) from exc
        serializer = ProposeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            challenge = challengers.propose(
                version,
                alias=data["alias"],
                rule=serializer.rule(),
                origin=data["origin"],
                user=request.user,
                shadow_runs=data["shadow_runs"],
            )
        except RegistryError as exc:
            raise _refused(exc) from exc
        return Response(
            ChallengeSerializer(challenge).data, status=status.HTTP_201_CREATED
        )


class _DecisionView(APIView):
    permission_classes = [CanApprove]
    parser_classes = [JSONBodyParser]
    decide = None

    @extend_schema(request=DecisionSerializer, responses=ChallengeSerializer)
    def post(self, request, name: str, pk: int):
        _model, challenges = _challenges(name)
        challenge = get_object_or_404(challenges, pk=pk)
        serializer = DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            challenge = type(self).decide(
                challenge, user=request.user, reason=serializer.validated_data["reason"]
            )
        except RegistryError as exc:
            raise _refused(exc) from exc
        return Response(ChallengeSerializer(challenge).data)


class ApproveView(_DecisionView):
    decide = staticmethod(challengers.approve)


class RejectView(_DecisionView):
    decide = staticmethod(challengers.reject)


class RollbackView(APIView):
    permission_classes = [CanApprove]
    parser_classes = [JSONBodyParser]

    @extend_schema(request=RollbackSerializer, responses=ModelSerializer)
    def post(self, request, name: str):
        model = get_object_or_404(RegisteredModel, name=name)
        serializer = RollbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            challengers.rollback(
                model,
                alias=serializer.validated_data["alias"],
                user=request.user,
                reason=serializer.validated_data["reason"],
            )
        except RegistryError as exc:
            raise _refused(exc) from exc
        model = RegisteredModel.objects.prefetch_related(
            "aliases__version", "versions"
        ).get(pk=model.pk)
        return Response(ModelSerializer(model).data)
