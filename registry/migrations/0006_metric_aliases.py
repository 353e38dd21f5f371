"""Versions trained with the alias roc_auc_ovr_macro keep AutoGluon's name for
it, roc_auc_ovr, under which their score was stored."""

from django.db import migrations


def forwards(apps, schema_editor):
    ModelVersion = apps.get_model("registry", "ModelVersion")
    ModelVersion.objects.filter(eval_metric="roc_auc_ovr_macro").update(
        eval_metric="roc_auc_ovr"
    )


class Migration(migrations.Migration):
    dependencies = [("registry", "0005_drift_reference")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
