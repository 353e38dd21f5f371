"""Disparo: dispatch list, definition forms, run history, run detail.

Views are thin: decorators, a form, one service call, render or redirect.
Lists cost a fixed number of queries however many runs and events exist.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import OuterRef, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dispatch import cluster, crontab, services, views_data
from dispatch.forms import (
    DispatchForm,
    PauseAllForm,
    RunFilterForm,
    SchedulePreviewForm,
    SwitchForm,
)
from dispatch.models import Dispatch, DispatchRun, RunStatus
from mlframework.core import csv_export, http, roles
from mlframework.events.models import Event
from monitor.drift import pages as drift_pages

RUNS_PER_PAGE = 50


def _dispatches():
    last = DispatchRun.objects.filter(dispatch=OuterRef("pk")).order_by("-id")
    return Dispatch.objects.select_related("model", "paused_by").annotate(
        last_status=Subquery(last.values("status")[:1]),
        last_started=Subquery(last.values("started")[:1]),
        last_run_id=Subquery(last.values("pk")[:1]),
    )


@require_GET
@roles.require(roles.VIEW)
def index(request):
    dispatches = list(_dispatches())
    for d in dispatches:
        d.last_status_display = RunStatus(d.last_status).label if d.last_status else ""
    return render(
        request,
        "dispatch/index.html",
        {"dispatches": dispatches, "pause_form": PauseAllForm()},
    )


@require_http_methods(["GET", "POST"])
@roles.require(roles.OPERATE)
def create(request):
    form = DispatchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dispatch = services.save(
                form.save(commit=False), request.user, created=True
            )
        except crontab.CrontabError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, _("Dispatch %(name)s saved.") % {"name": dispatch.name}
            )
            return redirect("dispatch:detail", pk=dispatch.pk)
    status = 400 if form.is_bound else 200
    return render(
        request, "dispatch/form.html", {"form": form, "creating": True}, status=status
    )


@require_http_methods(["GET", "POST"])
@roles.require(roles.OPERATE)
def edit(request, pk: int):
    dispatch = get_object_or_404(Dispatch, pk=pk)
    form = DispatchForm(request.POST or None, instance=dispatch)
    if request.method == "POST" and form.is_valid():
        try:
            services.save(form.save(commit=False), request.user)
        except crontab.CrontabError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, _("Dispatch %(name)s saved.") % {"name": dispatch.name}
            )
            return redirect("dispatch:detail", pk=dispatch.pk)
    status = 400 if form.is_bound else 200
    return render(
        request,
        "dispatch/form.html",
        {"form": form, "dispatch": dispatch, "creating": False},
        status=status,
    )


@require_POST
@roles.require(roles.OPERATE)
def delete(request, pk: int):
    dispatch = get_object_or_404(Dispatch, pk=pk)
    services.delete(dispatch, request.user)
    messages.success(request, _("Dispatch %(name)s deleted.") % {"name": dispatch.name})
    return redirect("dispatch:index")


@require_GET
@roles.require(roles.VIEW)
def schedule_preview(request):
    # A live preview: a bad expression is shown in place (htmx swaps 200s).
    form = SchedulePreviewForm(request.GET)
    preview = form.preview() if form.is_valid() else None
    return render(
        request, "dispatch/_schedule_preview.html", {"form": form, "preview": preview}
    )


@require_GET
@roles.require(roles.VIEW)
def detail(request, pk: int):
    dispatch = get_object_or_404(
        Dispatch.objects.select_related("model", "paused_by", "created_by"), pk=pk
    )
    runs = list(dispatch.runs.select_related("model_version__model")[:20])
    try:
        state = crontab.entry_state(dispatch)
        words = str(state.label)
    except crontab.CrontabError as exc:
        state = "unknown"
        words = _("unknown (%(error)s)") % {"error": exc}
    return render(
        request,
        "dispatch/detail.html",
        {
            "dispatch": dispatch,
            "runs": runs,
            "cron_state": state,
            "cron_words": words,
            "next_runs": dispatch.next_runs(5) if dispatch.enabled else [],
            "chart": views_data.chart(dispatch),
            "switch_form": SwitchForm(),
        },
    )


@require_POST
@roles.require(roles.OPERATE)
def switch(request, pk: int):
    dispatch = get_object_or_404(Dispatch, pk=pk)
    form = SwitchForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "dispatch/_switch.html",
            {"dispatch": dispatch, "error": _("The reason is too long.")},
            status=400,
        )
    change = services.enable if form.cleaned_data["enabled"] else services.disable
    error = ""
    try:
        change(dispatch, request.user, form.cleaned_data["reason"])
    except crontab.CrontabError as exc:
        error = str(exc)
    dispatch.refresh_from_db()
    if request.headers.get("HX-Request"):
        return render(
            request,
            "dispatch/_switch.html",
            {"dispatch": dispatch, "error": error},
            status=409 if error else 200,
        )
    if error:
        messages.error(request, error)
    return http.redirect_back(request, "dispatch:index")


@require_POST
@roles.superuser_required
def pause_all(request):
    return _all(request, services.pause_all, paused=True)


@require_POST
@roles.superuser_required
def resume_all(request):
    return _all(request, services.resume_all, paused=False)


def _all(request, action, paused: bool):
    """Pause or resume every dispatch, with the reason from the form."""
    form = PauseAllForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The reason is too long (500 characters at most)."))
        return redirect("dispatch:index")
    count = action(request.user, form.cleaned_data["reason"])
    if paused:
        done = ngettext(
            "%(count)d dispatch paused.", "%(count)d dispatches paused.", count
        )
    else:
        done = ngettext(
            "%(count)d dispatch resumed.", "%(count)d dispatches resumed.", count
        )
    messages.success(request, done % {"count": count})
    return redirect("dispatch:index")


@require_POST
@roles.require(roles.OPERATE)
def run_now(request, pk: int):
    dispatch = get_object_or_404(Dispatch, pk=pk)
    run = services.run_now(dispatch, request.user)
    run.refresh_from_db()
    if run.slurm_state == cluster.NOT_SUBMITTED:
        messages.error(request, run.error)
    else:
        messages.success(request, _("Run %(run)s queued.") % {"run": run.pk})
    return redirect("dispatch:run", pk=run.pk)


@require_POST
@roles.require(roles.OPERATE)
def run_cancel(request, pk: int):
    run = _run(pk)
    try:
        cluster.cancel(run, request.user)
    except cluster.CancelRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Run %(run)s cancelled (scancel %(job)s).")
            % {"run": run.pk, "job": run.slurm_job_id},
        )
    return redirect("dispatch:run", pk=run.pk)


@require_GET
@roles.require(roles.VIEW)
def runs(request):
    form = RunFilterForm(request.GET or {})
    if not form.is_valid():
        return render(
            request, "dispatch/runs.html", {"form": form, "runs": []}, status=400
        )
    queryset = form.filter(DispatchRun.objects.select_related("dispatch"))
    before = form.cleaned_data.get("before")
    if before:
        queryset = queryset.filter(pk__lt=before)
    page = list(queryset.order_by("-id")[: RUNS_PER_PAGE + 1])
    older = page[RUNS_PER_PAGE - 1].pk if len(page) > RUNS_PER_PAGE else None
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "form": form,
        "runs": page[:RUNS_PER_PAGE],
        "older": older,
        "query": query.urlencode(),
    }
    template = "dispatch/runs.html"
    if request.headers.get("HX-Request"):
        template = "dispatch/_runs_table.html"
    return render(request, template, context)


def _run(pk: int) -> DispatchRun:
    return get_object_or_404(
        DispatchRun.objects.select_related(
            "dispatch", "model_version__model", "requested_by"
        ),
        pk=pk,
    )


@require_GET
@roles.require(roles.VIEW)
def run_detail(request, pk: int):
    run = _run(pk)
    events = list(
        Event.objects.using("events")
        .filter(dispatch_run_id=run.pk)
        .order_by("created")[:200]
    )
    return render(
        request,
        "dispatch/run.html",
        {
            "run": run,
            "events": events,
            "preview": views_data.sink_preview(run),
            "drift": drift_pages.run_report(run),
        },
    )


@require_GET
@roles.require(roles.VIEW)
def run_progress(request, pk: int):
    # When the run has just ended, the page reloads to show rows and timings.
    return render(
        request, "dispatch/_run_progress.html", {"run": _run(pk), "reload": True}
    )


@require_GET
@roles.require(roles.VIEW)
def run_csv(request, pk: int):
    run = _run(pk)
    rows = views_data.sink_rows(run)
    if rows is None:
        raise Http404(_("This run's rows cannot be read from its sink."))
    return csv_export.response(rows, f"{run.dispatch.name}-run-{run.pk}.csv")
