from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Platform(models.Model):
    """Holds the platform's role permissions; it has no table.

    The permissions are granted to the role groups by a data migration and can
    be given to single users or new groups in the admin.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_platform", "Can view models, dispatches, monitor and events"),
            ("use_showroom", "Can make predictions in the Showroom"),
            ("train_models", "Can upload datasets and train models"),
            ("operate_dispatches", "Can edit, enable, disable and run dispatches"),
            ("approve_models", "Can approve or reject challengers and roll back"),
        ]

    def __str__(self) -> str:
        return "platform"


class Profile(models.Model):
    """A user's own settings; today the interface language."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="profile",
        verbose_name=_("user"),
    )
    # Blank: the browser's Accept-Language, else config.yaml's web.language.
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_(
            "The interface language. Empty: the browser's language, "
            "else the platform's default."
        ),
    )

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self) -> str:
        return str(self.user)
