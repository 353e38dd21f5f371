"""/metrics read with prometheus-client's own parser, after real requests,
predictions, dispatch runs, training jobs, alerts and task workers."""

import datetime as dt
import subprocess
import sys

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from dispatch import runner
from dispatch.models import RunStatus
from mlframework.core import demo
from mlframework.metrics.tests.helpers import scrape, value
from mlframework.processes.models import Worker
from monitor.alerts import Finding, evaluate
from monitor.models import Rule
from registry import datasets, jobs
from registry.models import TrainingJob
from registry.training import TrainOptions

pytestmark = pytest.mark.django_db(databases=["default", "events"])

HISTOGRAM = "mlframework_http_request_duration_seconds"


def _predict(client, user, rows):
    token = Token.objects.get_or_create(user=user)[0]
    return client.post(
        "/api/showroom/predict/",
        {"model": "penguins", "version": "production", "rows": rows},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )


def test_requests_are_counted_per_url_name_method_and_status_class(client):
    before = scrape(client)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no/such/page/")
    client.post("/healthz")
    client.get("/static/no-such-file.css")
    after = scrape(client)

    def delta(**labels):
        count = f"{HISTOGRAM}_count"
        return value(after, HISTOGRAM, count, **labels) - value(
            before, HISTOGRAM, count, **labels
        )

    assert delta(endpoint="healthz", method="GET", status="2xx") == 2
    assert delta(endpoint="healthz", method="POST", status="4xx") == 1
    # A 404 is counted under one name, never under its raw path.
    assert delta(endpoint="<unresolved>", method="GET", status="4xx") == 1
    assert delta(endpoint="<static>", method="GET", status="4xx") == 1
    assert delta(endpoint="metrics", method="GET", status="2xx") == 1  # `before`
    family = after[HISTOGRAM]
    assert family.type == "histogram"
    buckets = [
        s
        for s in family.samples
        if s.name == f"{HISTOGRAM}_bucket" and s.labels["endpoint"] == "healthz"
    ]
    assert {s.labels["le"] for s in buckets} >= {"0.005", "1.0", "+Inf"}
    total = value(
        after,
        HISTOGRAM,
        f"{HISTOGRAM}_sum",
        endpoint="healthz",
        method="GET",
        status="2xx",
    )
    assert total > 0


def test_api_predictions_are_counted_per_model_version(
    client, analyst, tiny_classifier
):
    rows = demo.read_csv().drop(columns=["species", "id"]).head(3)
    rows = [
        {k: (None if v != v else v) for k, v in r.items()}
        for r in rows.to_dict("records")
    ]
    before = scrape(client)
    response = _predict(client, analyst, rows)
    assert response.status_code == 200, response.content
    after = scrape(client)
    labels = {"model": "penguins", "version": "1", "origin": "api"}
    name = "mlframework_predictions"
    gained = value(after, name, f"{name}_total", **labels) - value(
        before, name, f"{name}_total", **labels
    )
    assert gained == 3
    assert after[name].type == "counter"


@pytest.mark.slow
def test_counts_of_every_process_are_added_up(client):
    """gunicorn's workers are processes: one that is not this one counts too."""
    code = (
        "import django; django.setup(); "
        "from mlframework.metrics import instruments; "
        "instruments.observe_request('elsewhere:view', 'GET', 503, 0.2)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=settings.BASE_DIR)
    families = scrape(client)
    labels = {"endpoint": "elsewhere:view", "method": "GET", "status": "5xx"}
    assert value(families, HISTOGRAM, f"{HISTOGRAM}_count", **labels) >= 1


@pytest.fixture
def demo_source(source_table):
    from mlframework.lib import odbc

    odbc.sqlite_database_path("demo").parent.mkdir(parents=True, exist_ok=True)
    return source_table("demo")


def test_dispatch_runs_by_status_with_rows_and_duration(
    client, make_dispatch, demo_source, tables, tiny_classifier
):
    good = make_dispatch(
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {demo_source}",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
    )
    bad = make_dispatch(
        model=tiny_classifier.model,
        version_ref="no-such-alias",
        source_query=f"SELECT * FROM {demo_source}",
        sink_table=tables("demo", "sink"),
    )
    assert runner.run_scheduled(good.pk).status == RunStatus.SUCCEEDED
    failed = runner.run_scheduled(bad.pk)
    assert failed.status == RunStatus.FAILED
    families = scrape(client)

    runs = "mlframework_dispatch_runs"
    assert value(families, runs, status="succeeded") == 1
    assert value(families, runs, status="failed") == 1
    assert value(families, runs, status="running") == 0  # present, at 0
    rows = "mlframework_dispatch_run_rows"
    assert value(families, rows, status="succeeded", direction="read") == 344
    assert value(families, rows, status="succeeded", direction="written") == 344
    took = "mlframework_dispatch_run_duration_seconds"
    assert families[took].type == "summary"
    assert value(families, took, f"{took}_count", status="succeeded") == 1
    assert value(families, took, f"{took}_sum", status="succeeded") > 0
    scored = "mlframework_dispatch_predicted_rows"
    assert value(families, scored, model="penguins", version="1") == 344


def test_training_jobs_by_status(client, analyst):
    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    options = TrainOptions(label="species", fast=True, time_limit=30)
    jobs.submit(dataset, "penguins", options, user=analyst)
    jobs.cancel(jobs.submit(dataset, "penguins", options, user=analyst))
    families = scrape(client)
    name = "mlframework_training_jobs"
    assert value(families, name, status=TrainingJob.Status.QUEUED) == 1
    assert value(families, name, status=TrainingJob.Status.CANCELLED) == 1
    assert value(families, name, status=TrainingJob.Status.RUNNING) == 0
    assert value(families, "mlframework_tasks_queued") >= 1


def test_alert_states_by_rule_and_status(client, mailoutbox):
    evaluate(
        [
            Finding(key="host:a", rule=Rule.HOST_DOWN, subject="host a", failing=True),
            Finding(key="host:b", rule=Rule.HOST_DOWN, subject="host b", failing=False),
            Finding(
                key="db:c",
                rule=Rule.DATABASE_DOWN,
                subject="database c",
                failing=True,
                grace=dt.timedelta(hours=1),
            ),
        ]
    )
    families = scrape(client)
    name = "mlframework_alerts"
    assert value(families, name, rule="host_down", status="firing") == 1
    assert value(families, name, rule="host_down", status="ok") == 1
    assert value(families, name, rule="database_down", status="pending") == 1
    assert value(families, name, rule="late_run", status="firing") == 0


def test_task_workers_up_and_down_with_seconds_since_their_beat(client):
    now = timezone.now()
    Worker.objects.create(worker_id="w-up", host="h", pid=11, started=now, beat=now)
    Worker.objects.create(
        worker_id="w-silent",
        host="h",
        pid=12,
        started=now - dt.timedelta(hours=1),
        beat=now - dt.timedelta(minutes=10),
    )
    families = scrape(client)
    up = "mlframework_task_worker_up"
    assert value(families, up, worker="w-up", host="h", pid="11") == 1
    assert value(families, up, worker="w-silent", pid="12") == 0
    silent = "mlframework_task_worker_seconds_since_beat"
    assert value(families, silent, worker="w-up") < 30
    assert 590 < value(families, silent, worker="w-silent") < 700


def test_a_database_that_cannot_be_read_is_a_metric_not_a_500(client, monkeypatch):
    from django.db import DatabaseError

    from mlframework.metrics import collector

    def broken(*args, **kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(collector, "_training_jobs", broken)
    families = scrape(client)
    assert value(families, "mlframework_metrics_database_up") == 0
    assert "mlframework_training_jobs" not in families
    assert HISTOGRAM in families  # the processes' counts are still there
