import json

from django.core.management.base import BaseCommand, CommandError

from monitor import probes, services


class Command(BaseCommand):
    help = (
        "Check hosts, databases and schedules, send the alerts that are due, "
        "print a summary; exit non-zero when something fails (for cron)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-alerts", action="store_true", help="only look; send no alerts"
        )
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="print the /healthz JSON instead",
        )

    def handle(self, *args, no_alerts=False, as_json=False, **options):
        if no_alerts:
            current, sent = services.snapshot(), []
        else:
            current, sent = services.check_and_alert()
        if as_json:
            self.stdout.write(json.dumps(probes.summary(current.checks), indent=2))
        else:
            for line in services.summary_lines(current):
                self.stdout.write(line)
            for notice in sent:
                self.stdout.write(f"alert {notice.state}: {notice.title}")
        if not current.ok:
            raise CommandError(
                f"{len(current.problems)} problem(s): " + "; ".join(current.problems)
            )
