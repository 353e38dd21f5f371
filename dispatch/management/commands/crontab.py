"""`manage.py crontab sync` reconciles the crontab; `crontab show` prints it."""

from django.core.management.base import BaseCommand, CommandError

from dispatch import crontab


class Command(BaseCommand):
    help = "Reconcile or show this installation's dispatch lines in the crontab."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["sync", "show"])

    def handle(self, *args, action, **options):
        try:
            if action == "show":
                entries = crontab.managed_entries()
                for pk in sorted(entries):
                    self.stdout.write(entries[pk])
                self.stderr.write(f"{len(entries)} managed line(s)")
                return
            result = crontab.sync()
        except crontab.CrontabError as exc:
            raise CommandError(str(exc)) from None
        for pk, error in sorted(result.errors.items()):
            self.stderr.write(f"dispatch {pk}: {error}")
        self.stdout.write(f"crontab synced: {result}")
        if result.errors:
            raise CommandError(
                f"{len(result.errors)} dispatch(es) could not be installed"
            )
