"""Roles are Django groups holding the platform's permissions.

viewer reads everything; analyst also trains and uses the Showroom; operator
also edits, enables, disables and runs dispatches; approver approves or
rejects challengers and rolls a model back. Superusers do everything.
Views ask for a permission, never for a group name, so an admin can also grant
a single permission to a single user.
"""

from collections.abc import Callable
from functools import cache, wraps

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import connections, router
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

VIEW = "core.view_platform"
SHOWROOM = "core.use_showroom"
TRAIN = "core.train_models"
OPERATE = "core.operate_dispatches"
APPROVE = "core.approve_models"

# How a refusal names each permission, in the reader's language.
_NAMES = {
    VIEW: gettext_lazy("view platform"),
    SHOWROOM: gettext_lazy("use showroom"),
    TRAIN: gettext_lazy("train models"),
    OPERATE: gettext_lazy("operate dispatches"),
}


def _refusal(permissions: tuple[str, ...]) -> str:
    names = _(" or ").join(
        str(_NAMES.get(p, p.split(".")[1].replace("_", " "))) for p in permissions
    )
    return _(
        "Your account lacks the permission for this page (%(names)s). "
        "Ask an administrator to add you to the right group."
    ) % {"names": names}


ROLES: dict[str, tuple[str, ...]] = {
    "viewer": ("view_platform",),
    "analyst": ("view_platform", "use_showroom", "train_models"),
    "operator": ("view_platform", "operate_dispatches"),
    # Decides which version serves: apart from training, so the one who
    # trained a challenger need not be the one who lets it serve.
    "approver": ("view_platform", "approve_models"),
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
    alias = router.db_for_read(Permission)
    sql, params = _permission_query(alias, permission)
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [user.pk if p == _ANY_USER else p for p in params])
        return cursor.fetchone() is not None


# Stands for the user's id in the query compiled once; never a real id.
_ANY_USER = -987_654_321


@cache
def _permission_query(alias: str, permission: str) -> tuple[str, tuple]:
    """The ORM's SQL for "does the user hold it, directly or by a group",
    compiled once per database and permission: building and compiling the
    query costs ~10x running it (bench/RESULTS.md, 2026-12-01)."""
    app_label, codename = permission.split(".", 1)
    query = (
        Permission.objects.using(alias)
        .filter(
            Q(user__id=_ANY_USER) | Q(group__user__id=_ANY_USER),
            content_type__app_label=app_label,
            codename=codename,
        )
        .order_by()
        .values("pk")[:1]
    )
    sql, params = query.query.get_compiler(alias).as_sql()
    return sql, tuple(params)


def require(permission: str) -> Callable:
    """View decorator: 403 unless the logged-in user holds the permission."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not has(request.user, permission):
                raise PermissionDenied(_refusal((permission,)))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def require_any(*permissions: str) -> Callable:
    """View decorator: 403 unless the user holds at least one of them."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not any(has(request.user, p) for p in permissions):
                raise PermissionDenied(_refusal(permissions))
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
        group, _created = Group.objects.using(using).get_or_create(name=name)
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
            raise PermissionDenied(_("Only a superuser may do this to every dispatch."))
        return view(request, *args, **kwargs)

    return wrapper
