"""`manage.py demo_dispatch`: the demo tables and dispatch (idempotent)."""

from django.core.management.base import BaseCommand, CommandError

from dispatch import crontab, demo
from mlframework.lib import odbc


class Command(BaseCommand):
    help = "Create the demo source/sink tables and the 5-minute demo dispatch."

    def handle(self, *args, **options):
        try:
            tables = demo.ensure_tables()
            dispatch, created = demo.ensure_dispatch()
        except (odbc.OdbcError, crontab.CrontabError) as exc:
            raise CommandError(f"demo dispatch: {exc}") from None
        self.stdout.write(
            f"demo dispatch: {dispatch.name} "
            f"{'created' if created else 'exists'}"
            + (f", tables created: {', '.join(tables)}" if tables else "")
            + (", in the crontab" if dispatch.enabled else ", disabled")
        )
