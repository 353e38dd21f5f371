from django.apps import AppConfig


class EventsConfig(AppConfig):
    """The append-only event log, kept in the `events` database."""

    name = "mlframework.events"
    label = "events"
    verbose_name = "Event log"
