from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class CaseSource(models.Model):
    """The controlled cases of one model: a query an analyst configured on a
    datasource, whose rows the Showroom lists as cases to try.

    Keyed by the model's name, not a foreign key: the demo's cases are set up
    before its model is trained, and a query outlives a model re-created
    under the same name.
    """

    model_name = models.CharField(_("model name"), max_length=63, unique=True)
    datasource = models.CharField(_("datasource"), max_length=64)
    query = models.TextField(_("query"))
    max_rows = models.PositiveIntegerField(
        _("maximum rows"),
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("updated by"),
    )
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("case query")
        verbose_name_plural = _("case queries")

    def __str__(self) -> str:
        return f"cases of {self.model_name} from {self.datasource}"

    @classmethod
    def of(cls, model) -> "CaseSource | None":
        return cls.objects.filter(model_name=model.name).first()
