from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

from mlframework.core import roles
from mlframework.events import pages
from mlframework.events.forms import EventFilterForm
from mlframework.events.models import Event


@require_GET
@roles.require(roles.VIEW)
def event_list(request):
    form = EventFilterForm(request.GET or None)
    result = None
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        status = 200
        if not form.is_bound:
            form = EventFilterForm({})
            form.is_valid()
        result = pages.page(
            form.filter(Event.objects.all()),
            form.cleaned_data.get("before"),
            settings.CONFIG.events.page_size,
        )
    query = request.GET.copy()
    query.pop("before", None)
    context = {"form": form, "result": result, "query": query.urlencode()}
    template = "events/list.html"
    if request.headers.get("HX-Request"):
        template = "events/_table.html"
    return render(request, template, context, status=status)
