from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("registry", "0006_metric_aliases")]
    operations = [
        migrations.AddField(
            model_name="dataset",
            name="column_types",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
