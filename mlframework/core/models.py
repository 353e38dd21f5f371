from django.db import models


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
