"""`manage.py train_job <id>`: run one queued training job here (what a
Slurm job runs on its node; the task worker runs the same registry.jobs.run)."""

from django.core.management.base import BaseCommand, CommandError

from registry import cluster, jobs
from registry.models import TrainingJob


class Command(BaseCommand):
    help = "Run a queued training job in this process (a Slurm job's command)."

    def add_arguments(self, parser):
        parser.add_argument("job_id", type=int)

    def handle(self, *args, job_id, **options):
        if not TrainingJob.objects.filter(pk=job_id).exists():
            raise CommandError(f"There is no training job {job_id}.")
        cluster.start_on_node(job_id)
        status = jobs.run(job_id)
        message = f"training job {job_id}: {status}"
        if status == TrainingJob.Status.FAILED:
            job = TrainingJob.objects.get(pk=job_id)
            raise CommandError(f"{message}: {job.error}")
        self.stdout.write(message)
