"""The retraining tests' world: the penguins in a demo SQLite table with a
`day` column, a champion trained by a real job on a snapshot of a query with
`:as_of`, and the task queue worked in this process (the tasks the worker
would run, in the order it would run them)."""

from __future__ import annotations

import contextlib
import uuid

import pyarrow as pa
import pytest
from django.test import TestCase
from django_tasks_db.models import DBTaskResult

from mlframework.lib import odbc
from registry import jobs, snapshots
from registry.models import RetrainPolicy
from registry.training import TrainOptions

AS_OF_QUERY = "SELECT * FROM {table} WHERE day <= :as_of"
ALL_DAYS = "2026-12-31"


def with_days(frame):
    """Each penguin gets a day of 2026, every species in every month."""
    frame = frame.copy()
    months = [i % 12 + 1 for i in range(len(frame))]
    frame["day"] = [f"2026-{m:02d}-15" for m in months]
    return frame


def make_table(frame, prefix: str = "retrain") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    odbc.create_table("demo", name, arrow.schema)
    odbc.write_table("demo", name, arrow)
    return name


@pytest.fixture
def retrain_tables():
    """Demo SQLite tables made by the test, dropped after."""
    from conftest import require_datasource

    require_datasource("demo")
    made: list[str] = []

    def make(frame, prefix: str = "retrain") -> str:
        name = make_table(frame, prefix)
        made.append(name)
        return name

    make.drop_later = made.append  # tables made elsewhere (a dispatch's sink)
    yield make
    for name in made:
        with contextlib.suppress(odbc.OdbcError):
            odbc.execute("demo", f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
def retrain_source(retrain_tables, penguins_frame):
    return retrain_tables(with_days(penguins_frame))


def options(**changes) -> TrainOptions:
    values = {
        "label": "species",
        "fast": True,
        "time_limit": 30,
        "excluded": ["id", "day"],
        "alias": "production",
        **changes,
    }
    return TrainOptions(**values)


def work_queue(limit: int = 20) -> list[str]:
    """Run every ready task as the worker would, on-commit callbacks
    included (a test's transaction never commits); their paths, in order."""
    ran = []
    for _ in range(limit):
        task = DBTaskResult.objects.ready().order_by("enqueued_at").first()
        if task is None:
            return ran
        task.claim("test")
        with TestCase.captureOnCommitCallbacks(execute=True):
            try:
                value = task.task.call(
                    *task.task_result.args, **task.task_result.kwargs
                )
            except Exception as exc:
                task.set_failed(exc)
                raise
            task.set_successful(value)
        ran.append(task.task_path)
    raise AssertionError(f"the queue did not empty in {limit} tasks: {ran}")


@pytest.fixture
def query_champion(db, retrain_source, analyst):
    """Model penguins v1 @production, trained by a real job on the query."""
    dataset, _ = snapshots.snapshot_query(
        "demo",
        AS_OF_QUERY.format(table=retrain_source),
        params={"as_of": ALL_DAYS},
        name="penguins by day",
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        job = jobs.submit(dataset, "penguins", options(), user=analyst)
    work_queue()
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return job.version


@pytest.fixture
def make_policy(query_champion):
    def make(**fields) -> RetrainPolicy:
        values = {
            "model": query_champion.model,
            "name": f"p{RetrainPolicy.objects.count() + 1}",
            "trigger": RetrainPolicy.Trigger.MANUAL,
            "min_interval_minutes": 0,
            **fields,
        }
        return RetrainPolicy.objects.create(**values)

    return make
