"""Create the role groups viewer, analyst and operator with their permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "viewer": ("view_platform",),
    "analyst": ("view_platform", "use_showroom", "train_models"),
    "operator": ("view_platform", "operate_dispatches"),
}


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; make them now.
    config = apps.get_app_config("core")
    config.models_module = True
    create_permissions(
        config, verbosity=0, apps=apps, using=schema_editor.connection.alias
    )
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="core", codename__in=codenames
            )
        )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
