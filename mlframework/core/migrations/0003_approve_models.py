"""The approve_models permission and the approver role holding it."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_role(apps, schema_editor):
    # Permissions are normally created after all migrations; make it now.
    config = apps.get_app_config("core")
    config.models_module = True
    create_permissions(
        config, verbosity=0, apps=apps, using=schema_editor.connection.alias
    )
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="approver")
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="core",
            codename__in=("view_platform", "approve_models"),
        )
    )


def remove_role(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="approver").delete()
    apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="core", codename="approve_models"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("core", "0002_role_groups")]

    operations = [
        migrations.AlterModelOptions(
            name="platform",
            options={
                "default_permissions": (),
                "managed": False,
                "permissions": [
                    (
                        "view_platform",
                        "Can view models, dispatches, monitor and events",
                    ),
                    ("use_showroom", "Can make predictions in the Showroom"),
                    ("train_models", "Can upload datasets and train models"),
                    (
                        "operate_dispatches",
                        "Can edit, enable, disable and run dispatches",
                    ),
                    (
                        "approve_models",
                        "Can approve or reject challengers and roll back",
                    ),
                ],
            },
        ),
        migrations.RunPython(create_role, remove_role),
    ]
