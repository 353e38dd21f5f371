from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ApiRequest(models.Model):
    """One request to the JSON API, written by ApiUsageMiddleware."""

    at = models.DateTimeField(_("time"), default=timezone.now)
    # Plain id and name, not a foreign key: the record outlives the account.
    user_id = models.IntegerField(_("user ID"), null=True, blank=True)
    username = models.CharField(_("username"), max_length=150, blank=True)
    endpoint = models.CharField(
        _("endpoint"), max_length=100
    )  # the URL name: showroom-api:predict
    model_name = models.CharField(_("model name"), max_length=63, blank=True)
    method = models.CharField(_("method"), max_length=8)
    status = models.PositiveSmallIntegerField(_("status"))
    duration_ms = models.FloatField(_("duration (ms)"))

    class Meta:
        verbose_name = _("API request")
        verbose_name_plural = _("API requests")
        ordering = ["-at"]
        indexes = [models.Index(fields=["at"], name="apirequest_at")]

    def __str__(self) -> str:
        return (
            f"{self.at:%Y-%m-%d %H:%M:%S} {self.method} {self.endpoint} {self.status}"
        )

    @property
    def is_error(self) -> bool:
        return self.status >= 400
