from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UsageConfig(AppConfig):
    name = "mlframework.usage"
    label = "usage"
    verbose_name = _("API usage")

    def ready(self) -> None:
        from mlframework.usage import recorder  # noqa: F401 (connects its signal)
