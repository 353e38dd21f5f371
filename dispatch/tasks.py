"""Background tasks (django-tasks): runs started from the web."""

from django_tasks import task

from dispatch import runner


@task(queue_name="default")
def execute_run(run_id: int) -> str:
    try:
        run = runner.execute(run_id)
    finally:
        runner.sweep_after_run()
    return run.status
