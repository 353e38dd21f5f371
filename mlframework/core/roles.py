"""Roles are Django groups holding the platform's permissions.

viewer reads everything; analyst also trains and uses the Showroom; operator
also edits, enables, disables and runs dispatches. Superusers do everything.
Views ask for a permission, never for a group name, so an admin can also grant
a single permission to a single user.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db.models import Q

VIEW = "core.view_platform"
SHOWROOM = "core.use_showroom"
TRAIN = "core.train_models"
OPERATE = "core.operate_dispatches"

ROLES: dict[str, tuple[str, ...]] = {
    "viewer": ("view_platform",),
    "analyst": ("view_platform", "use_showroom", "train_models"),
    "operator": ("view_platform", "operate_dispatches"),
}


def has(user, permission: str) -> bool:
    """user.has_perm(permission) in one query instead of loading every
    permission of the user and of their groups (two queries), for the
    per-request checks. Same answer as Django's ModelBackend, the only
    authentication backend: inactive users hold nothing, superusers all."""
    if not getattr(user, "is_active", False):
        return False
    if user.is_superuser:
        return True
    if hasattr(user, "_perm_cache"):  # already loaded for this request
        return permission in user._perm_cache
    app_label, codename = permission.split(".", 1)
    return (
        Permission.objects.filter(
            Q(user=user) | Q(group__user=user),
            content_type__app_label=app_label,
            codename=codename,
        )
        .values("pk")
        .exists()
    )


def require(permission: str) -> Callable:
    """View decorator: 403 unless the logged-in user holds the permission."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not has(request.user, permission):
                raise PermissionDenied(
                    "Your account lacks the permission for this page "
                    f"({permission.split('.')[1].replace('_', ' ')}). "
                    "Ask an administrator to add you to the right group."
                )
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def ensure_groups(using: str = "default", **kwargs) -> None:
    """Make the role groups hold their permissions (post_migrate handler).

    The data migration creates them; this keeps them after a flush and puts
    back a permission someone removed by mistake.
    """
    if using != "default":
        return
    for name, codenames in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.using(using).filter(
                content_type__app_label="core", codename__in=codenames
            )
        )


def superuser_required(view: Callable) -> Callable:
    """View decorator for platform-wide actions (pause or resume every dispatch)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_superuser:
            raise PermissionDenied("Only a superuser may do this to every dispatch.")
        return view(request, *args, **kwargs)

    return wrapper
