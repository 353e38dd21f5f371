"""The predict API: POST /api/showroom/predict/ with one or many rows."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from mlframework.core import roles
from mlframework.core.api import HasPermission
from mlframework.usage.middleware import note_model
from registry import services as registry
from registry.errors import ModelUnavailable as Unavailable
from registry.errors import SchemaError, VersionNotFound
from registry.models import RegisteredModel
from showroom import services


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Too many rows in one request."
    default_code = "too_many_rows"


class ModelUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The model cannot be loaded."
    default_code = "model_unavailable"


class PredictRequest(serializers.Serializer):
    model = serializers.SlugField(help_text="The registered model's name.")
    version = serializers.CharField(
        required=False,
        default="production",
        help_text="A version number (3) or an alias name (production).",
    )
    row = serializers.DictField(
        required=False,
        help_text="One case: feature name -> value. Give `row` or `rows`.",
    )
    # null rows pass here so that the schema check names them: rows[2] must be
    # an object of feature values, got null.
    rows = serializers.ListField(
        child=serializers.JSONField(allow_null=True),
        required=False,
        help_text="Several cases (at most showroom.max_rows); more answer 413.",
    )

    def validate(self, data):
        if ("row" in data) == ("rows" in data):
            raise serializers.ValidationError("Give either `row` or `rows`.")
        return data


class RowPrediction(serializers.Serializer):
    prediction = serializers.JSONField(help_text="The label or value.")
    probabilities = serializers.DictField(
        child=serializers.FloatField(),
        help_text="Class -> probability (classification only).",
    )
    unseen = serializers.DictField(
        help_text="Features whose category the model never saw in training."
    )
    out_of_range = serializers.DictField(
        help_text="Numeric features outside the training range."
    )


class PredictResponse(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField()
    problem_type = serializers.CharField()
    label = serializers.CharField()
    eval_metric = serializers.CharField()
    score = serializers.FloatField(
        allow_null=True, help_text="The held-out value of eval_metric."
    )
    typical_error = serializers.FloatField(
        allow_null=True, help_text="Regression: the held-out mean absolute error."
    )
    latency_ms = serializers.FloatField()
    ignored_fields = serializers.ListField(child=serializers.CharField())
    predictions = RowPrediction(many=True)


class ErrorResponse(serializers.Serializer):
    error = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField())


def _version(name: str, ref: str):
    ref = ref.strip()
    try:
        return registry.resolve_current(name, ref)
    except (VersionNotFound, RegisteredModel.DoesNotExist) as exc:
        raise NotFound(str(exc) or f"There is no model {name!r}.") from None


class PredictView(APIView):
    permission_classes = [HasPermission.of(roles.SHOWROOM)]

    @extend_schema(
        operation_id="showroom_predict",
        summary="Predict one or many cases with a model version",
        request=PredictRequest,
        responses={
            200: PredictResponse,
            400: ErrorResponse,
            403: ErrorResponse,
            404: ErrorResponse,
            413: ErrorResponse,
            503: ErrorResponse,
        },
        examples=[
            OpenApiExample(
                "One penguin",
                request_only=True,
                value={
                    "model": "penguins",
                    "version": "production",
                    "row": {
                        "island": "Biscoe",
                        "bill_length_mm": 45.2,
                        "bill_depth_mm": 15.8,
                        "flipper_length_mm": 215,
                        "body_mass_g": 5300,
                        "sex": "male",
                        "year": 2008,
                    },
                },
            )
        ],
    )
    def post(self, request):
        payload = PredictRequest(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        single = "row" in data
        rows = [data["row"]] if single else data["rows"]
        if len(rows) > services.max_rows():
            raise PayloadTooLarge(
                f"{len(rows)} rows sent; at most {services.max_rows()} rows per "
                "request (showroom.max_rows)."
            )
        note_model(request, data["model"])  # the API usage page's "per model"
        version = _version(data["model"], data["version"])
        try:
            outcome = services.predict_cases(
                version,
                rows,
                user=request.user,
                origin="api",
                prefix="row" if single else "rows",
            )
        except services.TooManyRows as exc:
            raise PayloadTooLarge(str(exc)) from None
        except services.InvalidCases as exc:
            raise ValidationError(
                {"non_field_errors": [str(exc)], **exc.errors}
            ) from None
        except SchemaError as exc:
            raise ValidationError(
                {name: ["is missing"] for name in getattr(exc, "missing", [])}
                or {"rows": [str(exc)]}
            ) from None
        except Unavailable as exc:
            raise ModelUnavailable(str(exc)) from None
        metric, score = outcome.score
        body = {
            "model": version.model.name,
            "version": version.number,
            "problem_type": version.problem_type,
            "label": version.label,
            "eval_metric": metric,
            "score": score,
            "typical_error": version.typical_error,
            "latency_ms": round(outcome.latency_ms, 3),
            "ignored_fields": outcome.ignored,
            "predictions": [
                {
                    "prediction": r.prediction,
                    "probabilities": r.probabilities,
                    "unseen": r.unseen,
                    "out_of_range": r.out_of_range,
                }
                for r in outcome.results
            ],
        }
        return Response(body)
