import importlib
from functools import wraps

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """The platform's shared pieces: roles, home, health, system checks."""

    name = "mlframework.core"
    label = "core"
    verbose_name = _("Platform")

    def ready(self) -> None:
        # Django's idiom: what touches models or connects receivers is
        # imported once the app registry is ready.
        from django.db.models.signals import post_migrate

        from mlframework.core import (
            checks,  # noqa: F401  (registers the checks)
            language,  # noqa: F401  (connects its login receiver)
            lockout,  # noqa: F401  (connects its receivers)
        )
        from mlframework.core.roles import ensure_groups

        post_migrate.connect(ensure_groups, sender=self)

        _respect_router_in_tasks_db_migration()


def _respect_router_in_tasks_db_migration() -> None:
    """django-tasks-db 0.13's migration 0019 ignores database routers.

    Its RenameIndexIfExists introspects the task table on every database,
    which fails on the `events` database where that table never exists
    (upstream: RealOrangeOne/django-tasks-db#16). Skip the operation wherever
    the router does not allow the app, as Django's own operations do.
    """
    try:
        module = importlib.import_module(
            "django_tasks_db.migrations."
            "0019_rename_django_task_new_ordering_idx_tasks_db_new_ordering_idx_and_more"
        )
    except ImportError:  # a later release renamed or fixed it
        return
    operation = getattr(module, "RenameIndexIfExists", None)
    if operation is None or getattr(operation, "_router_aware", False):
        return
    for name in ("database_forwards", "database_backwards"):
        original = getattr(operation, name)

        @wraps(original)
        def guarded(self, app_label, schema_editor, from_state, to_state, _o=original):
            model = to_state if _o.__name__ == "database_forwards" else from_state
            model = model.apps.get_model(app_label, self.model_name)
            if not self.allow_migrate_model(schema_editor.connection.alias, model):
                return None
            return _o(self, app_label, schema_editor, from_state, to_state)

        setattr(operation, name, guarded)
    operation._router_aware = True
