from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mlframework.core import roles
from monitor import probes


@require_GET
@never_cache
@login_not_required
def healthz(request):
    """Open to load balancers: 200 when every critical check passes, else 503."""
    body = probes.summary(probes.run_all())
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)


@require_GET
@roles.require(roles.VIEW)
def index(request):
    return render(request, "monitor/index.html", {"results": probes.run_all()})
