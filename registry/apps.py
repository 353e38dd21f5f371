from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    """Datasets, training jobs and model versions; the only AutoGluon importer."""

    name = "registry"
    verbose_name = _("Model registry")

    def ready(self) -> None:
        # Imported here, as Django wants receivers connected once apps are loaded.
        from mlframework.processes.signals import swept
        from registry import jobs

        # Each sweep of the task workers fails the jobs of those that stopped.
        swept.connect(jobs.on_workers_swept, dispatch_uid="registry.jobs")
