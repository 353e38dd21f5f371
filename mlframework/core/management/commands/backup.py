"""`manage.py backup`: one archive of the running platform (README, Backup)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from mlframework.core import backup


class Command(BaseCommand):
    help = (
        "Write one .tar.gz archive: the database, the event log, the model store, "
        "the datasets and config.yaml without its secrets."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output", type=Path, help="the archive (default var/backups/...)"
        )
        parser.add_argument(
            "--no-events", action="store_true", help="leave the event log out"
        )

    def handle(self, *args, **options):
        try:
            result = backup.backup(options["output"], events=not options["no_events"])
        except (backup.BackupError, OSError) as exc:
            raise CommandError(f"backup failed: {exc}") from None
        except DatabaseError as exc:
            raise CommandError(
                f"backup failed: a database could not be used: {exc}"
            ) from None
        self.stdout.write(result.summary())
