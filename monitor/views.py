from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from dispatch import services as dispatch_services
from dispatch.crontab import CrontabError
from dispatch.models import Dispatch
from mlframework.core import roles
from mlframework.processes import services as processes
from monitor import cluster, disk, probes, services
from monitor import schedules as schedule_states
from monitor.forms import ReasonForm
from monitor.models import AlertState, AlertStatus

# How often the page refreshes its parts: often right after the user did
# something, rarely otherwise (seconds).
REFRESH_ACTIVE, REFRESH_IDLE, ACTIVE_FOR = 5, 60, 120


@require_GET
@never_cache
@login_not_required
def healthz(request):
    """Open to load balancers: 200 when every critical check passes, else 503;
    the probes' results are a few seconds old (services.SharedChecks)."""
    details = request.user.has_perm(roles.VIEW)
    body = services.health(details=details)
    body["schedules"] = schedule_states.never_firing(details=details)
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)


@require_GET
@never_cache
@roles.require(roles.VIEW)
def index(request):
    current = services.snapshot()
    return render(
        request,
        "monitor/index.html",
        {
            **_checks_context(current.checks),
            **_schedules_context(current.schedules),
            **_alerts_context(),
            "disk": disk.usage(),
            "cluster": cluster.look() if cluster.shown() else None,
            "refresh": {
                "active": REFRESH_ACTIVE,
                "idle": REFRESH_IDLE,
                "active_for": ACTIVE_FOR,
            },
        },
    )


@require_GET
@never_cache
@roles.require(roles.VIEW)
def checks(request):
    return render(request, "monitor/_checks.html", _checks_context(probes.run_all()))


@require_GET
@never_cache
@roles.require(roles.VIEW)
def schedules(request):
    return render(
        request,
        "monitor/_schedules.html",
        _schedules_context(schedule_states.collect()),
    )


@require_GET
@never_cache
@roles.require(roles.VIEW)
def cluster_part(request):
    return render(request, "monitor/_cluster.html", {"cluster": cluster.look()})


@require_GET
@never_cache
@roles.require(roles.VIEW)
def alerts(request):
    return render(request, "monitor/_alerts.html", _alerts_context())


@require_POST
@roles.require(roles.OPERATE)
def enable(request, pk: int):
    dispatch = get_object_or_404(Dispatch, pk=pk)
    return _act(
        request,
        lambda reason: dispatch_services.enable(dispatch, request.user, reason),
        lambda _outcome: (
            _("Dispatch %(name)s enabled: its crontab line is written.")
            % {"name": dispatch.name}
        ),
    )


@require_POST
@roles.require(roles.OPERATE)
def disable(request, pk: int):
    dispatch = get_object_or_404(Dispatch, pk=pk)
    return _act(
        request,
        lambda reason: dispatch_services.disable(dispatch, request.user, reason),
        lambda _outcome: (
            _("Dispatch %(name)s paused: its crontab line is removed.")
            % {"name": dispatch.name}
        ),
    )


@require_POST
@roles.superuser_required
def pause_all(request):
    return _act(
        request,
        lambda reason: dispatch_services.pause_all(request.user, reason),
        lambda count: (
            ngettext(
                "%(count)d dispatch paused.", "%(count)d dispatches paused.", count
            )
            % {"count": count}
        ),
    )


@require_POST
@roles.superuser_required
def resume_all(request):
    return _act(
        request,
        lambda reason: dispatch_services.resume_all(request.user, reason),
        lambda count: (
            ngettext(
                "%(count)d dispatch resumed.", "%(count)d dispatches resumed.", count
            )
            % {"count": count}
        ),
    )


@require_POST
@roles.require(roles.OPERATE)
def sync_crontab(request):
    return _act(
        request,
        lambda reason: services.sync_crontab(request.user),
        lambda outcome: (
            _("Crontab synchronised with the database: %(outcome)s.")
            % {"outcome": outcome}
        ),
    )


# --------------------------------------------------------------------------


def _act(request, action, done):
    """Validate the reason, run one service call, answer page or partial;
    ``done(outcome)`` says what happened."""
    form = ReasonForm(request.POST)
    if not form.is_valid():
        error = _("Nothing changed: the reason %(errors)s") % {
            "errors": " ".join(form.errors["reason"])
        }
        return _answer(request, error=error, status=400)
    try:
        outcome = action(form.cleaned_data["reason"])
    except CrontabError as exc:
        return _answer(
            request, error=_("Nothing changed: %(error)s") % {"error": exc}, status=409
        )
    return _answer(request, notice=done(outcome))


def _answer(request, notice: str = "", error: str = "", status: int = 200):
    if request.headers.get("HX-Request"):
        context = _schedules_context(schedule_states.collect())
        context.update(notice=notice, error=error)
        return render(request, "monitor/_schedules.html", context, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("monitor:index")


def _checks_context(results) -> dict:
    return {
        "checks": results,
        "checks_failing": [r for r in results if r.critical and not r.ok],
        "checked_at": timezone.now(),
        "workers": processes.pool(),
    }


def _schedules_context(rows) -> dict:
    return {
        "schedules": rows,
        "mismatch": schedule_states.mismatched(rows),
        "flagged": [s for s in rows if s.flagged],
        # A quick local look (/proc): without cron no schedule fires at all.
        "cron": probes.probe_cron_daemon(),
        "any_enabled": any(not s.paused for s in rows),
        "any_paused": any(s.paused and s.dispatch.paused_at for s in rows),
        "reason_form": ReasonForm(),
        "scheduled_at": timezone.now(),
    }


def _alerts_context() -> dict:
    states = AlertState.objects.exclude(status=AlertStatus.OK)
    return {"alert_states": list(states.order_by("-status", "key"))}
