from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """Datasets, training jobs and model versions; the only AutoGluon importer."""

    name = "registry"
    verbose_name = "Model registry"
