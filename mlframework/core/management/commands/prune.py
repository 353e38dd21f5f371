"""`manage.py prune`: delete what is older than config.yaml's retention."""

from django.core.management.base import BaseCommand

from mlframework.core import retention


class Command(BaseCommand):
    help = (
        "Delete events, finished dispatch runs, finished training jobs and unused "
        "datasets older than config.yaml's retention ages, in batches."
    )

    def handle(self, *args, **options):
        result = retention.prune()
        self.stdout.write(f"pruned: {result.summary()}")
