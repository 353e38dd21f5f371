from django.shortcuts import render
from django.views.decorators.http import require_GET

from mlframework.core import roles


@require_GET
@roles.require(roles.VIEW)
def index(request):
    return render(request, "dispatch/index.html")
