from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    """The append-only event log, kept in the `events` database."""

    name = "mlframework.events"
    label = "events"
    verbose_name = _("Event log")
