from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The platform's shared pieces: roles, home, health, system checks."""

    name = "mlframework.core"
    label = "core"
    verbose_name = "Platform"

    def ready(self) -> None:
        from mlframework.core import checks  # noqa: F401  (registers the checks)
