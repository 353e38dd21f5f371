"""A model's monitoring settings: drift methods and thresholds, the
important-feature rule, the actuals query."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from mlframework.core import roles
from mlframework.events.log import log_event
from monitor.forms import MonitoringForm
from monitor.models import ModelMonitoring
from registry.models import RegisteredModel


@require_http_methods(["GET", "POST"])
@roles.require(roles.VIEW)
def monitoring(request, name: str):
    model = get_object_or_404(RegisteredModel, name=name)
    if request.method == "POST" and not roles.has(request.user, roles.TRAIN):
        raise PermissionDenied(
            _(
                "Your account lacks the permission to change a model's monitoring "
                "(train models). Ask an administrator to add you to the right group."
            )
        )
    latest = model.latest_version()
    form = MonitoringForm(
        request.POST or None,
        instance=ModelMonitoring.of(model),
        features=latest.features.names if latest else [],
    )
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        log_event(
            "monitor",
            "monitoring.changed",
            f"Monitoring of {model.name} changed",
            user=request.user,
            data={
                "model": model.name,
                "drift_enabled": saved.drift_enabled,
                "drift_settings": saved.drift_settings,
                "actuals_datasource": saved.actuals_datasource,
            },
        )
        messages.success(
            request, _("Monitoring of %(name)s saved.") % {"name": model.name}
        )
        return redirect("monitor:settings", name=model.name)
    return render(
        request,
        "monitor/settings.html",
        {
            "model": model,
            "form": form,
            "can_change": roles.has(request.user, roles.TRAIN),
        },
        status=400 if form.is_bound else 200,
    )
