"""The Drift page of a model version: features x runs heatmap, dataset drift
share over time, one feature's reference vs current distribution."""

from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from mlframework.core import roles
from monitor.drift import pages
from monitor.forms import DriftPageForm
from registry.models import ModelVersion


@require_GET
@roles.require(roles.VIEW)
def drift(request, pk: int):
    version = get_object_or_404(ModelVersion.objects.select_related("model"), pk=pk)
    form = DriftPageForm(request.GET)
    page = None
    if form.is_valid():
        try:
            page = pages.drift_page(
                version,
                runs=form.cleaned_data["runs"],
                run_id=form.cleaned_data["run"],
                feature=form.cleaned_data["feature"],
            )
        except pages.DriftPageError as exc:
            form.add_error(exc.field, str(exc))
    return render(
        request,
        "monitor/drift.html",
        {"version": version, "form": form, "page": page},
        status=200 if page is not None else 400,
    )
