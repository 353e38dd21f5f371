from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "mlframework.usage"
    label = "usage"
    verbose_name = "API usage"

    def ready(self) -> None:
        from mlframework.usage import recorder  # noqa: F401 (connects its signal)
