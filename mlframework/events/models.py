import uuid

from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _


class Level(models.TextChoices):
    DEBUG = "debug", _("Debug")
    INFO = "info", _("Info")
    WARNING = "warning", _("Warning")
    ERROR = "error", _("Error")


class Event(models.Model):
    """One thing that happened. Written only through mlframework.events.log.

    The id is set when the event is created, before it is stored, so an event
    replayed from the spool is recognised and never stored twice. Users, model
    versions and runs live in another database: they are kept as plain ids.
    """

    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    created = models.DateTimeField(_("created"), default=timezone.now)
    source = models.CharField(_("source"), max_length=32)
    kind = models.CharField(_("kind"), max_length=64)
    level = models.CharField(
        _("level"), max_length=8, choices=Level.choices, default=Level.INFO
    )
    message = models.TextField(_("message"))
    user_id = models.IntegerField(_("user ID"), null=True, blank=True)
    username = models.CharField(_("username"), max_length=150, blank=True)
    model_version_id = models.BigIntegerField(
        _("model version ID"), null=True, blank=True
    )
    dispatch_run_id = models.BigIntegerField(
        _("dispatch run ID"), null=True, blank=True
    )
    data = models.JSONField(_("data"), default=dict, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["-created", "-id"], name="event_created"),
            models.Index(fields=["source", "-created"], name="event_source"),
            models.Index(fields=["kind", "-created"], name="event_kind"),
            models.Index(fields=["level", "-created"], name="event_level"),
            models.Index(fields=["model_version_id", "-created"], name="event_version"),
            models.Index(fields=["dispatch_run_id", "-created"], name="event_run"),
        ]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.source}.{self.kind}"

    def to_spool(self) -> dict:
        return {
            "id": str(self.id),
            "created": self.created.isoformat(),
            "source": self.source,
            "kind": self.kind,
            "level": self.level,
            "message": self.message,
            "user_id": self.user_id,
            "username": self.username,
            "model_version_id": self.model_version_id,
            "dispatch_run_id": self.dispatch_run_id,
            "data": self.data,
        }

    @classmethod
    def from_spool(cls, record: dict) -> "Event":
        return cls(
            **{
                **record,
                "id": uuid.UUID(record["id"]),
                "created": parse_datetime(record["created"]),
            }
        )
