"""The retraining API: policies per model (read by viewers, changed with
TRAIN), "retrain now", and the run history. Shaped as registry/api.py."""

from __future__ import annotations

import copy

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from mlframework.core import roles
from mlframework.core.api import HasPermission
from mlframework.lib.crontab import CrontabError
from registry import retrain_cron, retraining
from registry.models import RegisteredModel, RetrainPolicy, RetrainRun

CanView = HasPermission.of(roles.VIEW)
CanTrain = HasPermission.of(roles.TRAIN)


class _ViewOrTrain(HasPermission):
    """Reading with VIEW, changing with TRAIN."""

    def has_permission(self, request, view) -> bool:
        safe = request.method in ("GET", "HEAD", "OPTIONS")
        needed = roles.VIEW if safe else roles.TRAIN
        return bool(request.user and roles.has(request.user, needed))


class PolicySerializer(serializers.ModelSerializer):
    overrides = serializers.DictField(required=False, default=dict)

    class Meta:
        model = RetrainPolicy
        fields = [
            "id",
            "name",
            "enabled",
            "trigger",
            "cron",
            "timezone",
            "data",
            "overrides",
            "min_interval_minutes",
            "action",
            "min_improvement",
            "max_fairness_gap_increase",
            "alias",
            "created",
            "updated",
        ]
        read_only_fields = ["id", "created", "updated"]
        # The (model, name) uniqueness is checked in validate: the model is
        # not a field of the payload.
        validators = []

    def validate(self, data):
        model = self.context["model"]
        # A copy: a refused change leaves the instance as it was.
        policy = copy.copy(self.instance) if self.instance else RetrainPolicy()
        for key, value in data.items():
            setattr(policy, key, value)
        policy.model = model
        taken = RetrainPolicy.objects.filter(model=model, name=policy.name).exclude(
            pk=policy.pk
        )
        if taken.exists():
            raise ValidationError(
                {"name": [f"Model {model.name} already has a policy {policy.name}."]}
            )
        try:
            retraining.check_policy(policy)
        except retraining.RetrainError as exc:
            raise ValidationError(
                {exc.field or "non_field_errors": [str(exc)]}
            ) from None
        data["cron"] = policy.cron
        return data


class RunSerializer(serializers.ModelSerializer):
    policy = serializers.CharField(source="policy.name")
    version = serializers.SerializerMethodField()
    champion = serializers.SerializerMethodField()

    class Meta:
        model = RetrainRun
        fields = [
            "id",
            "policy",
            "trigger",
            "detail",
            "scheduled_for",
            "state",
            "reason",
            "error",
            "dataset",
            "job",
            "champion",
            "version",
            "challenge_id",
            "outcome",
            "created",
            "finished",
        ]

    def get_version(self, run) -> int | None:
        return run.version.number if run.version else None

    def get_champion(self, run) -> int | None:
        return run.champion.number if run.champion else None


def _save(serializer, model, user) -> RetrainPolicy:
    try:
        with transaction.atomic():
            policy = serializer.save(
                model=model,
                **({"created_by": user} if serializer.instance is None else {}),
            )
            retrain_cron.apply(policy)
    except CrontabError as exc:
        raise ValidationError({"cron": [str(exc)]}) from exc
    return policy


class PolicyListView(APIView):
    permission_classes = [_ViewOrTrain]

    @extend_schema(responses=PolicySerializer(many=True))
    def get(self, request, name: str):
        model = get_object_or_404(RegisteredModel, name=name)
        return Response(PolicySerializer(model.retrain_policies.all(), many=True).data)

    @extend_schema(request=PolicySerializer, responses=PolicySerializer)
    def post(self, request, name: str):
        model = get_object_or_404(RegisteredModel, name=name)
        serializer = PolicySerializer(data=request.data, context={"model": model})
        serializer.is_valid(raise_exception=True)
        policy = _save(serializer, model, request.user)
        return Response(PolicySerializer(policy).data, status=status.HTTP_201_CREATED)


class PolicyView(APIView):
    permission_classes = [_ViewOrTrain]

    def _policy(self, name: str, pk: int) -> RetrainPolicy:
        return get_object_or_404(
            RetrainPolicy.objects.select_related("model"), model__name=name, pk=pk
        )

    @extend_schema(responses=PolicySerializer)
    def get(self, request, name: str, pk: int):
        return Response(PolicySerializer(self._policy(name, pk)).data)

    @extend_schema(request=PolicySerializer, responses=PolicySerializer)
    def patch(self, request, name: str, pk: int):
        policy = self._policy(name, pk)
        serializer = PolicySerializer(
            policy, data=request.data, partial=True, context={"model": policy.model}
        )
        serializer.is_valid(raise_exception=True)
        policy = _save(serializer, policy.model, request.user)
        return Response(PolicySerializer(policy).data)

    @extend_schema(responses={204: None})
    def delete(self, request, name: str, pk: int):
        policy = self._policy(name, pk)
        try:
            retrain_cron.remove(policy.pk)
        except CrontabError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from exc
        policy.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class PolicyRunView(APIView):
    """Retrain now: 202 with the queued run, or 409 with the skipped one."""

    permission_classes = [CanTrain]

    @extend_schema(request=None, responses=RunSerializer)
    def post(self, request, name: str, pk: int):
        policy = get_object_or_404(
            RetrainPolicy.objects.select_related("model"), model__name=name, pk=pk
        )
        fired = retraining.trigger(
            policy, RetrainPolicy.Trigger.MANUAL, detail="API", user=request.user
        )
        code = status.HTTP_202_ACCEPTED if fired.queued else status.HTTP_409_CONFLICT
        return Response(RunSerializer(fired.run).data, status=code)


class RunListView(APIView):
    permission_classes = [CanView]

    @extend_schema(responses=RunSerializer(many=True))
    def get(self, request, name: str):
        model = get_object_or_404(RegisteredModel, name=name)
        runs = RetrainRun.objects.filter(model=model).select_related(
            "policy", "version", "champion"
        )[:200]
        return Response(RunSerializer(runs, many=True).data)
