from django.apps import AppConfig


class ProcessesConfig(AppConfig):
    """The platform's long-running processes: task workers with their
    heartbeat, and the supervisor that restarts what dies."""

    name = "mlframework.processes"
    label = "processes"
    verbose_name = "Processes"
