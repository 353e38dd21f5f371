"""`manage.py dispatch run <id>` (what cron calls), `dispatch sweep`."""

from django.core.management.base import BaseCommand, CommandError

from dispatch import runner
from dispatch.models import RunStatus
from monitor.drift import runs as drift


class Command(BaseCommand):
    help = "Run a dispatch now (as cron does), or sweep dead runs."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        run = actions.add_parser("run", help="run a dispatch once, as cron does")
        run.add_argument("dispatch_id", type=int)
        actions.add_parser("sweep", help="mark runs whose process died as failed")

    def handle(self, *args, action, **options):
        if action == "sweep":
            failed = runner.sweep()
            self.stdout.write(f"{len(failed)} dead run(s) marked failed")
            return
        try:
            run = runner.run_scheduled(options["dispatch_id"])
        except runner.RunError as exc:
            raise CommandError(str(exc)) from None
        finally:
            runner.sweep_after_run()
        summary = (
            f"dispatch {run.dispatch.name} run {run.pk}: {run.status}, "
            f"{run.rows_read} read, {run.rows_written} written"
        )
        if run.status == RunStatus.FAILED:
            raise CommandError(f"{summary}: {run.error}")
        if run.status == RunStatus.SUCCEEDED:
            summary += f"; {drift.describe(run)}"
        self.stdout.write(summary + (f" ({run.error})" if run.error else ""))
