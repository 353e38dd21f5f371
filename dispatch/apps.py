from django.apps import AppConfig


class DispatchConfig(AppConfig):
    """Scheduled batch inference (Disparo): definitions, runs, crontab."""

    name = "dispatch"
    verbose_name = "Dispatches"
