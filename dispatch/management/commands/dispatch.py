"""`manage.py dispatch run <id>` (what cron calls), `dispatch sweep`."""

from django.core.management.base import BaseCommand, CommandError

from dispatch import cluster, runner
from dispatch.models import Dispatch, RunStatus
from monitor.drift import runs as drift


class Command(BaseCommand):
    help = "Run a dispatch now (as cron does), or sweep dead runs."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        run = actions.add_parser("run", help="run a dispatch once, as cron does")
        run.add_argument("dispatch_id", type=int)
        actions.add_parser("sweep", help="mark runs whose process died as failed")
        execute = actions.add_parser(
            "execute", help="execute a queued run (what a Slurm job runs on its node)"
        )
        execute.add_argument("run_id", type=int)
        actions.add_parser(
            "reconcile", help="give runs on Slurm the final state the cluster knows"
        )

    def handle(self, *args, action, **options):
        if action == "sweep":
            failed = runner.sweep()
            self.stdout.write(f"{len(failed)} dead run(s) marked failed")
            return
        if action == "reconcile":
            settled = cluster.reconcile()
            self.stdout.write(f"{len(settled)} Slurm run(s) given a final state")
            return
        if action == "run":
            dispatch = Dispatch.objects.filter(pk=options["dispatch_id"]).first()
            if dispatch is not None and dispatch.uses_slurm:
                return self._submit(dispatch)
        try:
            if action == "execute":
                run = cluster.start_on_node(options["run_id"])
                if run is None:
                    self.stdout.write(
                        f"run {options['run_id']} is no longer queued; nothing to do"
                    )
                    return
                run = runner.execute(run.pk)
            else:
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

    def _submit(self, dispatch):
        submission = cluster.run_scheduled(dispatch)
        run = submission.run
        if not submission.submitted:
            raise CommandError(f"dispatch {dispatch.name} run {run.pk}: {run.error}")
        self.stdout.write(
            f"dispatch {dispatch.name} run {run.pk}: submitted to Slurm as job "
            f"{run.slurm_job_id}"
        )
