"""The on-demand drift check page: a file or a query against a version."""

from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from mlframework.core import roles
from monitor.drift import checks
from monitor.forms import DriftCheckForm
from registry import datasets
from registry.errors import DatasetError
from registry.models import ModelVersion


@require_http_methods(["GET", "POST"])
@roles.require_any(*checks.PERMISSIONS)
def drift_check(request, pk: int):
    version = get_object_or_404(ModelVersion.objects.select_related("model"), pk=pk)
    context = {"version": version, "max_rows": checks.max_rows(), "report": None}
    if request.method == "GET":
        return render(
            request, "monitor/drift_check.html", {**context, "form": DriftCheckForm()}
        )
    try:
        datasets.check_request_size(int(request.META.get("CONTENT_LENGTH") or 0))
    except DatasetError as exc:
        context.update(form=DriftCheckForm(), refusal=str(exc))
        return render(request, "monitor/drift_check.html", context, status=413)
    form = DriftCheckForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if data["file"]:
                report = checks.check_file(version, data["file"])
                source = _("the file %(name)s") % {"name": data["file"].name}
            else:
                report = checks.check_query(version, data["datasource"], data["sql"])
                source = _("the query on %(name)s") % {"name": data["datasource"]}
        except checks.CheckError as exc:
            form.add_error(exc.field, str(exc))
        else:
            context.update(form=form, report=report, source=source)
            return render(request, "monitor/drift_check.html", context)
    context["form"] = form
    return render(request, "monitor/drift_check.html", context, status=400)
