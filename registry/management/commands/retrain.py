"""`manage.py retrain run <policy id>` (what cron calls), `retrain sync`."""

from django.core.management.base import BaseCommand, CommandError

from mlframework.lib.crontab import CrontabError
from registry import retrain_cron, retraining


class Command(BaseCommand):
    help = "Fire a retrain policy now (as cron does), or sync its crontab lines."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        run = actions.add_parser("run", help="fire a schedule policy, as cron does")
        run.add_argument("policy_id", type=int)
        actions.add_parser("sync", help="make the retrain lines match the database")

    def handle(self, *args, action, **options):
        if action == "sync":
            try:
                result = retrain_cron.sync()
            except CrontabError as exc:
                raise CommandError(str(exc)) from None
            for pk, error in sorted(result.errors.items()):
                self.stderr.write(f"retrain policy {pk}: {error}")
            self.stdout.write(f"retrain crontab synced: {result}")
            if result.errors:
                raise CommandError(f"{len(result.errors)} policy line(s) failed")
            return
        try:
            fired = retraining.run_scheduled(options["policy_id"])
        except retraining.RetrainError as exc:
            raise CommandError(str(exc)) from None
        run = fired.run
        self.stdout.write(
            f"retrain run {run.pk} of {run.policy}: {run.state}"
            + (f" ({run.reason})" if run.reason else "")
        )
