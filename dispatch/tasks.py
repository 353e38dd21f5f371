"""Background tasks (django-tasks): runs started from the web."""

from django_tasks import task


@task(queue_name="default")
def execute_run(run_id: int) -> str:
    from dispatch import runner

    run = runner.execute(run_id)
    return run.status
