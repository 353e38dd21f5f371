"""Background tasks (django-tasks): runs started from the web."""

from django_tasks import task


@task(queue_name="default")
def execute_run(run_id: int) -> str:
    from dispatch import runner

    try:
        run = runner.execute(run_id)
    finally:
        runner.sweep_after_run()
    return run.status
