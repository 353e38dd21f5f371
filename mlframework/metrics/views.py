from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mlframework.metrics import exposition
from mlframework.metrics.access import Access, check


@require_GET
@never_cache
@login_not_required
def metrics(request):
    """For Prometheus: no session, but only configured addresses or the token
    (mlframework.metrics.access); a refusal says nothing more."""
    access = check(request)
    if access is Access.BAD_TOKEN:
        response = HttpResponse(
            "401 Unauthorized\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if access is Access.REFUSED:
        return HttpResponse("403 Forbidden\n", status=403, content_type="text/plain")
    body, content_type = exposition.render()
    return HttpResponse(body, content_type=content_type)
