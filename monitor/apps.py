from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitorConfig(AppConfig):
    """Host, database and schedule checks."""

    name = "monitor"
    verbose_name = _("Monitor")
