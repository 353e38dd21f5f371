from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0008_merge_lifecycle"),
    ]

    operations = [
        migrations.AddField(
            model_name="shadowrun",
            name="predictions_file",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name="shadowrun",
            name="realised_state",
            field=models.CharField(
                blank=True,
                choices=[
                    ("scored", "Scored"),
                    ("no_match", "No actuals matched yet"),
                    ("failed", "Could not be computed"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="shadowrun",
            name="realised_reason",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="shadowrun",
            name="realised_rows",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="shadowrun",
            name="realised",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="shadowrun",
            name="realised_computed",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
