from django.shortcuts import render
from django.views.decorators.http import require_GET

from mlframework.core import roles
from mlframework.events import pages


@require_GET
@roles.require(roles.VIEW)
def home(request):
    return render(request, "core/home.html", {"events": pages.recent(10)})
