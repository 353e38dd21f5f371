from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mlframework.core import files


class Command(BaseCommand):
    help = (
        "Make var/ and the other configured folders private to this user: "
        "folders 0700, files 0600 (make setup runs it)."
    )
    # The check it fixes (mlframework.W010) would only warn before the fix.
    requires_system_checks = []

    def handle(self, *args, **options):
        roots = files.private_roots(settings.CONFIG)
        try:
            fixed = files.make_private(roots)
        except OSError as exc:
            raise CommandError(
                f"private files: {exc.filename}: {exc.strerror}"
            ) from None
        self.stdout.write(
            f"private files: {len(fixed.changed)} path(s) made private under "
            + ", ".join(str(root) for root in roots)
        )
