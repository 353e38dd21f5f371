from mlframework.core import roles


def permissions(request) -> dict:
    """`can.*` flags so templates show only the actions a user may take."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"can": {}}
    return {
        "can": {
            "view": user.has_perm(roles.VIEW),
            "showroom": user.has_perm(roles.SHOWROOM),
            "train": user.has_perm(roles.TRAIN),
            "operate": user.has_perm(roles.OPERATE),
            "approve": user.has_perm(roles.APPROVE),
            "admin": user.is_staff,
        }
    }
