from django.db import migrations, models


def copy_names(apps, schema_editor):
    CaseSource = apps.get_model("showroom", "CaseSource")
    for source in CaseSource.objects.select_related("model"):
        source.model_name = source.model.name
        source.save(update_fields=["model_name"])


def copy_back(apps, schema_editor):
    CaseSource = apps.get_model("showroom", "CaseSource")
    RegisteredModel = apps.get_model("registry", "RegisteredModel")
    for source in CaseSource.objects.all():
        model = RegisteredModel.objects.filter(name=source.model_name).first()
        if model is None:
            source.delete()
        else:
            source.model = model
            source.save(update_fields=["model"])


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("showroom", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="casesource",
            name="model_name",
            field=models.CharField(max_length=63, null=True),
        ),
        migrations.AlterField(
            model_name="casesource",
            name="model",
            field=models.OneToOneField(
                null=True,
                on_delete=models.CASCADE,
                related_name="case_source",
                to="registry.registeredmodel",
            ),
        ),
        migrations.RunPython(copy_names, copy_back),
        migrations.RemoveField(model_name="casesource", name="model"),
        migrations.AlterField(
            model_name="casesource",
            name="model_name",
            field=models.CharField(max_length=63, unique=True),
        ),
    ]
