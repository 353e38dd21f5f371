from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShowroomConfig(AppConfig):
    """Interactive predictions on controlled cases."""

    name = "showroom"
    verbose_name = _("Showroom")
