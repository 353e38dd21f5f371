"""Retrain policies per model: list with run history, form, enable, retrain now."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mlframework.core import roles
from mlframework.lib.crontab import CrontabError
from registry import retrain_cron, retraining
from registry.forms_retraining import PolicyForm, TriggerForm
from registry.models import RegisteredModel, RetrainPolicy, RetrainRun


def _model(name: str) -> RegisteredModel:
    return get_object_or_404(RegisteredModel, name=name)


def _policy(name: str, pk: int) -> RetrainPolicy:
    return get_object_or_404(
        RetrainPolicy.objects.select_related("model"), model__name=name, pk=pk
    )


def _runs(model: RegisteredModel):
    return RetrainRun.objects.filter(model=model).select_related(
        "policy", "job", "dataset", "version__model", "champion__model"
    )[:100]


@require_GET
@roles.require(roles.VIEW)
def policies(request, name: str):
    model = _model(name)
    return render(
        request,
        "registry/policies.html",
        {
            "model": model,
            "policies": model.retrain_policies.all(),
            "runs": _runs(model),
            "trigger_form": TriggerForm(),
        },
    )


@require_http_methods(["GET", "POST"])
@roles.require(roles.TRAIN)
def policy_edit(request, name: str, pk: int | None = None):
    model = _model(name)
    policy = _policy(name, pk) if pk else RetrainPolicy(model=model)
    form = PolicyForm(request.POST or None, instance=policy, model=model)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                saved = form.save(commit=False)
                saved.model = model
                saved.overrides = form.overrides()
                if saved.created_by_id is None:
                    saved.created_by = request.user
                saved.save()
                retrain_cron.apply(saved)  # a crontab refusal saves nothing
        except CrontabError as exc:
            form.add_error("cron", str(exc))
        else:
            messages.success(
                request, _("Policy %(name)s saved.") % {"name": saved.name}
            )
            return redirect("registry:policies", model.name)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "registry/policy_form.html",
        {"model": model, "policy": policy, "form": form},
        status=status,
    )


@require_POST
@roles.require(roles.TRAIN)
def policy_delete(request, name: str, pk: int):
    policy = _policy(name, pk)
    try:
        retrain_cron.remove(policy.pk)
    except CrontabError as exc:
        messages.error(request, str(exc))
        return redirect("registry:policies", name)
    policy.delete()
    messages.success(request, _("Policy %(name)s deleted.") % {"name": policy.name})
    return redirect("registry:policies", name)


@require_POST
@roles.require(roles.TRAIN)
def policy_enable(request, name: str, pk: int):
    policy = _policy(name, pk)
    try:
        with transaction.atomic():
            policy.enabled = not policy.enabled
            policy.save(update_fields=["enabled", "updated"])
            retrain_cron.apply(policy)
    except CrontabError as exc:
        messages.error(request, str(exc))
    else:
        state = _("enabled") if policy.enabled else _("disabled")
        messages.success(
            request,
            _("Policy %(name)s %(state)s.") % {"name": policy.name, "state": state},
        )
    return redirect("registry:policies", name)


@require_POST
@roles.require(roles.TRAIN)
def policy_run(request, name: str, pk: int):
    """Retrain now: a queued run (the work happens in the task queue)."""
    policy = _policy(name, pk)
    form = TriggerForm(request.POST)
    if form.is_valid():
        fired = retraining.trigger(
            policy,
            RetrainPolicy.Trigger.MANUAL,
            detail="retrain now",
            user=request.user,
        )
        if fired.queued:
            messages.success(
                request, _("Retrain run %(run)s queued.") % {"run": fired.run.pk}
            )
        else:
            messages.warning(
                request,
                _("Retrain run %(run)s skipped: %(reason)s")
                % {"run": fired.run.pk, "reason": fired.run.reason},
            )
    return redirect("registry:policies", name)


@require_POST
@roles.require(roles.TRAIN)
def run_cancel(request, name: str, pk: int):
    retrain = get_object_or_404(RetrainRun, model__name=name, pk=pk)
    try:
        retraining.cancel(retrain, user=request.user)
    except retraining.RetrainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, _("Retrain run %(run)s cancelled.") % {"run": retrain.pk}
        )
    return redirect("registry:policies", name)
