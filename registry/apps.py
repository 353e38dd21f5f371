from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """Datasets, training jobs and model versions; the only AutoGluon importer."""

    name = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        # Imported here, as Django wants receivers connected once apps are loaded.
        from mlframework.processes.signals import swept
        from registry import cluster, jobs

        # Each sweep of the task workers fails the jobs of those that stopped,
        # and gives jobs on Slurm the final state the cluster knows.
        swept.connect(jobs.on_workers_swept, dispatch_uid="registry.jobs")
        swept.connect(cluster.on_workers_swept, dispatch_uid="registry.cluster")
