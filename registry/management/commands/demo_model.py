from django.core.management.base import BaseCommand, CommandError

from registry.demo import MODEL, queue_demo_model
from registry.errors import RegistryError


class Command(BaseCommand):
    help = "Queue training of the demo model (penguins) once; the worker trains it."

    def handle(self, *args, **options):
        try:
            job = queue_demo_model()
        except RegistryError as exc:
            raise CommandError(f"demo model: {exc}") from exc
        if job is None:
            self.stdout.write(f"demo model: {MODEL} exists or is queued already")
        else:
            self.stdout.write(f"demo model: training of {MODEL} queued (job {job.pk})")
