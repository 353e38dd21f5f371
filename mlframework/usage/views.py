from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mlframework.core import roles
from mlframework.usage import services
from mlframework.usage.forms import UsageForm


@require_GET
@never_cache
@roles.require(roles.VIEW)
def api_usage(request):
    form = UsageForm(request.GET)
    if not form.is_valid():
        return render(request, "usage/api_usage.html", {"form": form}, status=400)
    until = timezone.now()
    usage = services.usage(
        until - form.span,
        until,
        grouping=form.cleaned_data["grouping"],
        by=form.cleaned_data["by"],
    )
    context = {
        "form": form,
        "usage": usage,
        "chart": usage.chart(),
        "by_label": form.by_label,
        "per_day": form.cleaned_data["grouping"] == "day",
    }
    return render(request, "usage/api_usage.html", context)
