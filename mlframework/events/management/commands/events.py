from django.core.management.base import BaseCommand, CommandError

from mlframework.events import spool
from mlframework.lib.redact import redact


class Command(BaseCommand):
    help = "Event log tools. `events replay` stores the spooled events."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["replay"])

    def handle(self, *args, action: str, **options):
        if not spool.pending():
            self.stdout.write("replay: the spool is empty")
            return
        try:
            count = spool.replay()
        except Exception as exc:
            raise CommandError(
                f"replay failed, the spool is kept: {redact(exc)}"
            ) from None
        self.stdout.write(f"replay: {count} events stored")
