from django.core.management.base import BaseCommand, CommandError

from mlframework.lib.odbc import OdbcError
from showroom import cases, demo


class Command(BaseCommand):
    help = "Give the demo model its controlled cases in the Showroom (once)."

    def handle(self, *args, **options):
        source = demo.ensure_cases()
        if source is None:
            self.stdout.write("demo cases: no demo datasource configured, skipped")
            return
        try:
            listed = cases.from_source(source)
        except (cases.CaseError, OdbcError) as exc:
            raise CommandError(f"demo cases: {exc}") from exc
        self.stdout.write(
            f"demo cases: {len(listed.rows)} cases of {source.model_name} "
            f"from {source.datasource}"
        )
