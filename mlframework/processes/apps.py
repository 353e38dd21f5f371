from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProcessesConfig(AppConfig):
    """The platform's long-running processes: task workers with their
    heartbeat, and the supervisor that restarts what dies."""

    name = "mlframework.processes"
    label = "processes"
    verbose_name = _("Processes")
