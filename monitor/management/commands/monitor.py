import json

from django.core.management.base import BaseCommand, CommandError

from dispatch.crontab import CrontabError
from mlframework.core import retention
from monitor import probes, realised, schedules, services


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

        cron = parser.add_mutually_exclusive_group()
        cron.add_argument(
            "--install-cron",
            action="store_true",
            help="add (or fix) the crontab line running this every --every minutes",
        )
        cron.add_argument(
            "--remove-cron", action="store_true", help="remove that crontab line"
        )
        parser.add_argument("--every", type=int, default=5, metavar="MINUTES")

    def handle(self, *args, no_alerts=False, as_json=False, **options):
        if options["install_cron"] or options["remove_cron"]:
            return self._cron(options)
        scored = []
        if no_alerts:
            current, sent = services.snapshot(), []
        else:
            # Scores first, so this round's alerts see the latest actuals.
            scored = realised.compute_due()
            current, sent = services.check_and_alert()
        if as_json:
            body = probes.summary(current.checks, details=True)
            body["schedules"] = schedules.never_firing(
                [s.dispatch for s in current.schedules], details=True
            )
            self.stdout.write(json.dumps(body, indent=2))
        else:
            for line in services.summary_lines(current):
                self.stdout.write(line)
            for notice in sent:
                self.stdout.write(f"alert {notice.state}: {notice.title}")
            for computation in scored:
                self.stdout.write(f"realised scores: {computation.summary()}")
        if not no_alerts:  # the cron round, not a look from a shell
            pruned = retention.prune_if_due()
            if pruned is not None and not as_json:
                self.stdout.write(f"pruned: {pruned.summary()}")
        if not current.ok:
            raise CommandError(
                f"{len(current.problems)} problem(s): " + "; ".join(current.problems)
            )

    def _cron(self, options):
        try:
            if options["remove_cron"]:
                removed = services.remove_monitor_cron()
                self.stdout.write(
                    "monitor crontab line removed" if removed else "no monitor line"
                )
                return
            if not 1 <= options["every"] <= 59:
                raise CommandError("--every must be between 1 and 59 minutes")
            changed = services.install_monitor_cron(options["every"])
        except CrontabError as exc:
            raise CommandError(str(exc)) from None
        state = "installed" if changed else "already installed"
        self.stdout.write(f"monitor crontab line {state}: every {options['every']} min")
