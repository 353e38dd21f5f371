from django.apps import AppConfig


class MonitorConfig(AppConfig):
    """Host, database and schedule checks."""

    name = "monitor"
