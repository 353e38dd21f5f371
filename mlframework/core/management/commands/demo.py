from django.core.management.base import BaseCommand, CommandError

from mlframework.core import demo
from mlframework.lib.odbc import OdbcError


class Command(BaseCommand):
    help = "Load the demo data (Palmer penguins) into the `demo` ODBC datasource."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["load"])
        parser.add_argument("--force", action="store_true", help="reload the table")

    def handle(self, *args, action: str, force: bool, **options):
        try:
            rows = demo.load(force=force)
        except OdbcError as exc:
            raise CommandError(f"demo: {exc}") from None
        if rows:
            self.stdout.write(f"demo: loaded {rows} penguins into datasource demo")
        else:
            self.stdout.write("demo: datasource demo already holds the penguins")
