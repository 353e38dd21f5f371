"""The Performance page of a model version: realised scores per day against
the held-out score, per run, and "Compute now" (monitor/realised.py)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from mlframework.core import roles
from monitor import realised
from registry.models import ModelVersion


def _version(pk: int) -> ModelVersion:
    return get_object_or_404(ModelVersion.objects.select_related("model"), pk=pk)


@require_GET
@roles.require(roles.VIEW)
def performance(request, pk: int):
    found = realised.performance(_version(pk))
    return render(
        request,
        "monitor/performance.html",
        {"p": found, "version": found.version, "chart": found.chart()},
    )


@require_POST
@roles.require(roles.OPERATE)
def compute(request, pk: int):
    version = _version(pk)
    try:
        done = realised.compute(version.model)
    except realised.RealisedError as exc:
        messages.error(request, str(exc))
    else:
        if done.ok:
            messages.success(
                request, _("Realised scores computed: %s") % done.summary()
            )
        else:
            messages.error(request, _("Realised scores failed: %s") % done.error)
    return redirect("monitor:performance", pk=version.pk)
