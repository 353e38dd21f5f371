from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mlframework.core import roles
from mlframework.events.log import log_event
from registry import services as registry
from registry.errors import RegistryError, VersionNotFound
from registry.models import ModelVersion, RegisteredModel
from showroom import cases, services
from showroom.forms import (
    CaseForm,
    CaseSourceForm,
    ListedCaseForm,
    VersionForm,
    initial_from,
)
from showroom.models import CaseSource

# htmx swaps 2xx answers only; showroom.js lets this one through so a refused
# case shows its messages in place.
INVALID = 422


def _model(name: str):
    return get_object_or_404(RegisteredModel, name=name)


def _version(model, data):
    """The chosen version (alias or number) of a model, or 404 with why.

    `model` is a RegisteredModel, or a model name on the predict path, which
    resolves through the registry's per-process cache of current versions.
    """
    form = VersionForm(data)
    if not form.is_valid():
        raise Http404(form.errors["ref"][0])
    try:
        if isinstance(model, str):
            return registry.resolve_current(model, form.cleaned_data["ref"])
        return model.version_for(form.cleaned_data["ref"])
    except VersionNotFound as exc:
        raise Http404(str(exc)) from None


def _choices(model) -> dict:
    ready = model.versions.filter(status=ModelVersion.Status.READY)
    versions = list(ready.order_by("-number"))
    aliases = list(model.aliases.select_related("version").order_by("name"))
    return {"versions": versions, "aliases": aliases}


@require_GET
@roles.require(roles.VIEW)
def index(request):
    models = RegisteredModel.objects.order_by("name").prefetch_related(
        "aliases__version"
    )
    return render(request, "showroom/index.html", {"models": models})


@require_GET
@roles.require(roles.SHOWROOM)
def model(request, name: str):
    model = _model(name)
    try:
        version = _version(model, request.GET)
    except Http404 as exc:
        # Say which versions there are rather than a bare "not found".
        context = {"model": model, "message": str(exc), **_choices(model)}
        return render(request, "showroom/missing.html", context, status=404)
    source = CaseSource.of(model)
    listed = []
    if source:
        try:
            listed.append(cases.from_source(source))
        except cases.CaseError as exc:
            listed.append(cases.Cases("query", note=str(exc)))
    listed.append(cases.sample(version, _sample_size()))
    context = {
        "model": model,
        "version": version,
        "source": source,
        "listed": listed,
        "form": CaseForm(version.features),
        "recent": services.recent_predictions(model),
        "score": services.held_out_score(version),
        "current_ref": _ref_text(request.GET.get("ref")),
        **_choices(model),
    }
    return render(request, "showroom/model.html", context)


@require_GET
@roles.require(roles.SHOWROOM)
def case_form(request, name: str):
    """The case form filled with a listed case, to edit before predicting."""
    version = _version(_model(name), request.GET)
    form = CaseForm(
        version.features, initial=initial_from(version.features, request.GET)
    )
    return render(
        request,
        "showroom/_form.html",
        {"form": form, "version": version, "model": version.model},
    )


@require_POST
@roles.require(roles.SHOWROOM)
def predict(request, name: str):
    """Predict the case in the form; the result replaces #result."""
    version = _version(name, request.POST)
    form = CaseForm(version.features, request.POST)
    if not form.is_valid():
        response = render(
            request,
            "showroom/_form.html",
            {"form": form, "version": version, "model": version.model},
            status=INVALID,
        )
        response["HX-Retarget"] = "#case-form"
        response["HX-Reswap"] = "outerHTML"
        return response
    return _predicted(request, version, [form.as_row()], origin="form")


@require_POST
@roles.require(roles.SHOWROOM)
def predict_listed(request, name: str):
    """Predict one listed case (index) or all of them (no index).

    The cases are listed again on the server, so what is predicted is what
    the case query or the training data says, not what the browser sent.
    """
    model = _model(name)
    version = _version(model, request.POST)
    form = ListedCaseForm(request.POST)
    if not form.is_valid():
        return _problem(request, form.errors.as_text())
    origin = form.cleaned_data["origin"]
    if origin == "query":
        source = CaseSource.of(model)
        if source is None:
            return _problem(request, _("This model has no case query."))
        try:
            listed = cases.from_source(source)
        except cases.CaseError as exc:
            return _problem(request, str(exc))
    else:
        listed = cases.sample(version, _sample_size())
    index = form.cleaned_data["index"]
    if index is not None and index >= len(listed.rows):
        return _problem(
            request,
            _("There is no case %(number)s: the list changed.") % {"number": index + 1},
        )
    if not listed.rows:
        return _problem(request, listed.note or _("There are no cases to predict."))
    rows = [listed.rows[index]] if index is not None else listed.rows
    return _predicted(request, version, rows, origin=origin)


def _predicted(request, version, rows, *, origin):
    try:
        outcome = services.predict_cases(
            version, rows, user=request.user, origin=origin
        )
    except services.InvalidCases as exc:
        errors = [f"{key} {' '.join(messages)}" for key, messages in exc.errors.items()]
        return _problem(request, _("This case does not fit the model:"), errors)
    except (services.TooManyRows, RegistryError) as exc:
        return _problem(request, str(exc))
    response = render(request, "showroom/_result.html", {"outcome": outcome})
    response["HX-Trigger"] = "showroom-predicted"
    return response


def _problem(request, message: str, details=()) -> HttpResponse:
    return render(
        request,
        "showroom/_problem.html",
        {"message": message, "details": list(details)},
        status=INVALID,
    )


@require_GET
@roles.require(roles.SHOWROOM)
def recent(request, name: str):
    model = _model(name)
    return render(
        request,
        "showroom/_recent.html",
        {"model": model, "recent": services.recent_predictions(model)},
    )


@require_http_methods(["GET", "POST"])
@roles.require(roles.SHOWROOM)
def case_source(request, name: str):
    """Configure the model's case query; it is test-run before it is saved."""
    model = _model(name)
    source = CaseSource.of(model) or CaseSource(model_name=model.name)
    form = CaseSourceForm(request.POST or None, instance=source)
    if request.method == "POST" and form.is_valid():
        source = form.save(commit=False)
        source.updated_by = request.user
        source.save()
        log_event(
            services.SOURCE,
            "case_source_saved",
            f"case query of {model.name} saved ({source.datasource}, "
            f"{len(form.preview.rows)} rows)",
            user=request.user,
            data={"model": model.name, "datasource": source.datasource},
        )
        messages.success(
            request,
            ngettext(
                "Case query saved: it returned %(count)s row.",
                "Case query saved: it returned %(count)s rows.",
                len(form.preview.rows),
            )
            % {"count": len(form.preview.rows)},
        )
        return redirect("showroom:model", name=model.name)
    # A refused POST says so in its status, as the other full-page forms do.
    return render(
        request,
        "showroom/case_source.html",
        {"model": model, "form": form, "source": source},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@roles.require(roles.SHOWROOM)
def case_source_delete(request, name: str):
    model = _model(name)
    deleted, _by_kind = CaseSource.objects.filter(model_name=model.name).delete()
    if deleted:
        log_event(
            services.SOURCE,
            "case_source_deleted",
            f"case query of {model.name} removed",
            user=request.user,
            data={"model": model.name},
        )
        messages.success(request, _("Case query removed."))
    return redirect("showroom:model", name=model.name)


def _ref_text(ref: str | None) -> str:
    ref = (ref or "production").strip()
    return ref[1:] if ref[:1] == "v" and ref[1:].isdigit() else ref


def _sample_size() -> int:
    return settings.CONFIG.showroom.sample_rows
