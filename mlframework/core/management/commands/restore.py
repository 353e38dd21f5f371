"""`manage.py restore ARCHIVE`: bring a backup back on a fresh install."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from mlframework.core import backup


class Command(BaseCommand):
    help = (
        "Restore an archive written by `manage.py backup` onto this installation "
        "(run `manage.py migrate` first). Dispatches come back disabled."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", type=Path)
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace what this installation already holds",
        )

    def handle(self, *args, **options):
        try:
            result = backup.restore(options["archive"], force=options["force"])
        except (backup.BackupError, OSError) as exc:
            raise CommandError(f"restore refused: {exc}") from None
        except DatabaseError as exc:
            raise CommandError(
                f"restore refused: a database could not be used: {exc}"
            ) from None
        self.stdout.write(result.summary())
