"""Joins the three 0007 migrations of this session's branches (snapshots,
challengers, retraining); the lead may replace it when merging the graphs."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0007_challengers"),
        ("registry", "0007_dataset_query"),
        ("registry", "0007_retraining"),
    ]

    operations = []
