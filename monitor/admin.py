"""Alert states, and the Monitor's dispatch actions for the admin.

The pause/enable actions call dispatch.services like the Monitor page does.
They are registered on the Dispatch admin here only when the dispatch app has
not registered one itself; it can add them to its own with
``actions = [*monitor.admin.DISPATCH_ACTIONS]`` and the ``has_operate_permission``
/ ``has_superuser_permission`` methods of DispatchActionsMixin.
"""

from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from dispatch import crontab
from dispatch import services as dispatch_services
from dispatch.models import Dispatch
from mlframework.core import roles
from monitor.forms import MonitoringForm
from monitor.models import AlertState, ModelMonitoring, RunDrift
from monitor.services import sync_crontab

ADMIN_REASON = "from the admin"


@admin.register(AlertState)
class AlertStateAdmin(admin.ModelAdmin):
    """Read-only: states change only by the monitor's alert pass."""

    list_display = ("key", "rule", "status", "failing_since", "fired_at", "detail")
    list_filter = ("status", "rule")
    search_fields = ("key", "subject", "detail")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ModelMonitoring)
class ModelMonitoringAdmin(admin.ModelAdmin):
    """The same form and checks as the model's monitoring page."""

    form = MonitoringForm
    list_display = ("model", "drift_enabled", "actuals_datasource", "updated")
    list_filter = ("drift_enabled",)
    search_fields = ("model__name",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        latest = obj.model.latest_version() if obj else None
        features = latest.features.names if latest else []

        class WithFeatures(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, features=features, **inner)

        return WithFeatures

    def get_fields(self, request, obj=None):
        return [
            "model",
            *MonitoringForm.field_order,
            *[
                name
                for name in MonitoringForm.Meta.fields
                if name not in MonitoringForm.field_order
            ],
        ]


@admin.register(RunDrift)
class RunDriftAdmin(admin.ModelAdmin):
    """Read-only: written by the runs."""

    list_display = (
        "run",
        "version",
        "state",
        "dataset_drift",
        "drift_share",
        "created",
    )
    list_filter = ("state", "dataset_drift", "prediction_drift")
    exclude = ("report",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _enabled(count: int) -> str:
    return ngettext(
        "%(count)d dispatch enabled.", "%(count)d dispatches enabled.", count
    ) % {"count": count}


def _paused(count: int) -> str:
    return ngettext(
        "%(count)d dispatch paused.", "%(count)d dispatches paused.", count
    ) % {"count": count}


def _resumed(count: int) -> str:
    return ngettext(
        "%(count)d dispatch resumed.", "%(count)d dispatches resumed.", count
    ) % {"count": count}


@admin.action(
    description=gettext_lazy("Enable selected dispatches"), permissions=["operate"]
)
def enable_selected(modeladmin, request, queryset):
    done = _each(modeladmin, request, queryset.filter(enabled=False), "enable")
    modeladmin.message_user(request, _enabled(done))


@admin.action(
    description=gettext_lazy("Pause selected dispatches"), permissions=["operate"]
)
def pause_selected(modeladmin, request, queryset):
    done = _each(modeladmin, request, queryset.filter(enabled=True), "disable")
    modeladmin.message_user(request, _paused(done))


@admin.action(
    description=gettext_lazy("Pause every dispatch (whatever is selected)"),
    permissions=["superuser"],
)
def pause_every(modeladmin, request, queryset):
    count = dispatch_services.pause_all(request.user, ADMIN_REASON)
    modeladmin.message_user(request, _paused(count))


@admin.action(
    description=gettext_lazy("Resume every paused dispatch (whatever is selected)"),
    permissions=["superuser"],
)
def resume_every(modeladmin, request, queryset):
    count = dispatch_services.resume_all(request.user, ADMIN_REASON)
    modeladmin.message_user(request, _resumed(count))


@admin.action(
    description=gettext_lazy("Sync the crontab with the database"),
    permissions=["operate"],
)
def sync_with_crontab(modeladmin, request, queryset):
    modeladmin.message_user(
        request,
        _("Crontab synchronised: %(outcome)s.")
        % {"outcome": sync_crontab(request.user)},
    )


DISPATCH_ACTIONS = (
    enable_selected,
    pause_selected,
    pause_every,
    resume_every,
    sync_with_crontab,
)


def _each(modeladmin, request, queryset, verb: str) -> int:
    done = 0
    for dispatch in queryset:
        try:
            getattr(dispatch_services, verb)(dispatch, request.user, ADMIN_REASON)
            done += 1
        except crontab.CrontabError as exc:
            modeladmin.message_user(request, str(exc), level=messages.ERROR)
    return done


class DispatchActionsMixin:
    def has_operate_permission(self, request):
        return request.user.has_perm(roles.OPERATE)

    def has_superuser_permission(self, request):
        return request.user.is_superuser


if not admin.site.is_registered(Dispatch):

    @admin.register(Dispatch)
    class DispatchAdmin(DispatchActionsMixin, admin.ModelAdmin):
        list_display = ("name", "cron", "timezone", "enabled", "paused_by", "paused_at")
        list_filter = ("enabled",)
        search_fields = ("name",)
        actions = list(DISPATCH_ACTIONS)

        # Edits and deletes go through the Dispatches pages, which keep the
        # crontab in step; here only the actions above change anything.
        def has_add_permission(self, request):
            return False

        def has_change_permission(self, request, obj=None):
            return False

        def has_delete_permission(self, request, obj=None):
            return False
