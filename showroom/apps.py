from django.apps import AppConfig


class ShowroomConfig(AppConfig):
    """Interactive predictions on controlled cases."""

    name = "showroom"
