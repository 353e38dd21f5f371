from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DispatchConfig(AppConfig):
    """Scheduled batch inference (Disparo): definitions, runs, crontab."""

    name = "dispatch"
    verbose_name = _("Dispatches")

    def ready(self) -> None:
        # Imported here, as Django wants receivers connected once apps are loaded.
        from dispatch import cluster
        from mlframework.processes.signals import swept

        # Each sweep (the worker's, the monitor's cron round) reconciles the
        # runs on Slurm with what the cluster knows.
        swept.connect(cluster.on_workers_swept, dispatch_uid="dispatch.cluster")
