"""A shifted source raises the drift alert through the real cron path: the
real cron daemon starts the dispatch's entrypoint in its own process, the run
stores its drift report and the alert reaches a real webhook on 127.0.0.1."""

import contextlib
import os
import re
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from conftest import require_service
from dispatch import crontab
from dispatch.models import DispatchRun, RunStatus
from dispatch.tests.test_processes import _cron_running, _wait
from mlframework.events.models import Event
from mlframework.lib import odbc
from monitor.models import AlertState, AlertStatus, RunDrift
from monitor.tests.test_drift_runs import shifted

pytestmark = [
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
    pytest.mark.slow,
]


@pytest.fixture
def source(penguins_frame):
    name = f"src_{uuid.uuid4().hex[:10]}"
    arrow = pa.Table.from_pandas(
        shifted(penguins_frame).drop(columns=["species"]), preserve_index=False
    )
    odbc.create_table("demo", name, arrow.schema)
    odbc.write_table("demo", name, arrow)
    yield name
    for table in (name, f"sink_{name}"):
        with contextlib.suppress(odbc.OdbcError):
            odbc.execute("demo", f"DROP TABLE IF EXISTS {table}")


def test_a_shifted_source_alerts_through_cron_and_the_webhook(
    tiny_classifier, make_dispatch, source, process_env, settings, tmp_path, webhook
):
    require_service(_cron_running(), "the cron daemon")
    # Cron starts jobs with an empty environment: the job's config has the
    # values resolved (private to this test) and the webhook of this test.
    raw = Path(process_env["MLFRAMEWORK_CONFIG"]).read_text()
    resolved = re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}",
        lambda m: os.environ.get(m.group(1), m.group(2) or ""),
        raw,
    )
    config = yaml.safe_load(resolved)
    config.setdefault("alerts", {})["webhook_url"] = webhook.url
    file = tmp_path / "cron.yaml"
    file.touch(mode=0o600)
    file.write_text(yaml.safe_dump(config))
    settings.CONFIG_FILE = file
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {source}",
        sink_table=f"sink_{source}",
        key_columns=["id"],
        cron="* * * * *",
        enabled=True,
    )
    try:
        crontab.install(dispatch)
        run = _wait(
            lambda: DispatchRun.objects.filter(
                dispatch=dispatch, status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED]
            ).first(),
            150,
            "cron to run the dispatch",
        )
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert os.getpid() != run.pid
        _wait(lambda: webhook.received, 30, "the alert at the webhook")
    finally:
        crontab.remove(dispatch.pk)
    drift = RunDrift.objects.get(run=run)
    assert drift.dataset_drift and drift.drift_share >= 0.5
    assert Event.objects.using("events").filter(
        dispatch_run_id=run.pk, kind="drift.detected"
    )
    state = AlertState.objects.get(key=f"dispatch:{dispatch.pk}:drift")
    assert state.status == AlertStatus.FIRING
    posted = [
        p["json"] for p in webhook.received if p["json"]["rule"] == "dataset_drift"
    ]
    assert len(posted) == 1
    assert posted[0]["state"] == "fired"
    assert posted[0]["dispatch_id"] == dispatch.pk
    assert "of the features drifted" in posted[0]["detail"]
    assert dispatch.pk not in crontab.managed_entries()
