from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    """Datasets, training jobs and model versions; the only AutoGluon importer."""

    name = "registry"
    verbose_name = _("Model registry")

    def ready(self) -> None:
        # Imported here, as Django wants receivers connected once apps are loaded.
        from mlframework.processes.signals import swept
        from monitor.alerts import alert_fired
        from registry import cluster, jobs, retraining

        # Each sweep of the task workers fails the jobs of those that stopped,
        # and gives jobs on Slurm the final state the cluster knows.
        swept.connect(jobs.on_workers_swept, dispatch_uid="registry.jobs")
        # Retrain runs follow their training job; drift and metric alerts
        # fire the policies that wait for them.
        jobs.training_finished.connect(
            retraining.on_training_finished, dispatch_uid="registry.retraining"
        )
        alert_fired.connect(retraining.on_alert_fired, dispatch_uid="registry.retrain")
        swept.connect(cluster.on_workers_swept, dispatch_uid="registry.cluster")
