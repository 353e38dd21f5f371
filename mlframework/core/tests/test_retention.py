"""Retention: the ages from config.yaml, a pass over every kind of record,
once per every_hours from the monitor's cron round, and its settings checked."""

import contextlib
import dataclasses
import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mlframework.config import RetentionConfig
from mlframework.core import retention
from mlframework.core.tests.test_config import MINIMAL, error_for, with_
from mlframework.events.log import prune_events
from mlframework.events.models import Event

pytestmark = pytest.mark.django_db(databases=["default", "events"])

NOW = timezone.now()


@pytest.fixture
def ages(settings):
    def use(**changes):
        settings.CONFIG = dataclasses.replace(
            settings.CONFIG,
            retention=dataclasses.replace(settings.CONFIG.retention, **changes),
        )

    return use


def _events(count: int, days_ago: float) -> None:
    when = NOW - dt.timedelta(days=days_ago)
    Event.objects.bulk_create(
        Event(source="test", kind="old", message=f"e{i}", created=when)
        for i in range(count)
    )


def test_old_events_go_in_batches_of_the_configured_size():
    _events(7, days_ago=200)
    _events(2, days_ago=1)
    with CaptureQueriesContext(connections["events"]) as queries:
        assert prune_events(NOW - dt.timedelta(days=180), batch=3) == 7
    deletes = [q for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # 3 + 3 + 1: no statement holds the table long
    assert Event.objects.filter(kind="old").count() == 2


def test_a_pass_prunes_every_kind_and_logs_it(ages):
    ages(events_days=30, batch_size=2)
    _events(5, days_ago=31)
    result = retention.prune(NOW)
    assert result.counts == {
        "events": 5,
        "dispatch runs": 0,
        "training jobs": 0,
        "datasets": 0,
        "API requests": 0,
        "shadow prediction files": 0,
    }
    assert result.summary() == (
        "5 events, 0 dispatch runs, 0 training jobs, 0 datasets, 0 API requests, "
        "0 shadow prediction files"
    )
    logged = Event.objects.get(kind=retention.KIND)
    assert logged.data["counts"]["events"] == 5
    assert "Retention: deleted 5 events" in logged.message


def test_an_age_of_zero_keeps_that_kind_forever(ages):
    ages(events_days=0, runs_days=0, jobs_days=0, datasets_days=0, api_requests_days=0)
    _events(3, days_ago=10_000)
    result = retention.prune(NOW)
    assert result.counts == {} and "kept forever" in result.summary()
    assert Event.objects.filter(kind="old").count() == 3


def test_the_round_prunes_once_per_every_hours(ages):
    ages(every_hours=24)
    assert retention.due(NOW)
    assert retention.prune_if_due(NOW) is not None
    assert not retention.due(NOW + dt.timedelta(hours=23))
    assert retention.prune_if_due(NOW + dt.timedelta(hours=23)) is None
    assert retention.due(NOW + dt.timedelta(hours=25))


def test_a_failing_pass_is_an_event_and_the_round_goes_on(ages, monkeypatch):
    def broken(before, batch):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(retention, "prune_events", broken)
    assert retention.prune_if_due(NOW) is None
    failed = Event.objects.get(kind="retention.failed")
    assert "disk on fire" in failed.message and failed.level == "error"


def test_the_command_prints_what_went(ages):
    _events(2, days_ago=400)
    out = StringIO()
    call_command("prune", stdout=out)
    assert out.getvalue().startswith("pruned: 2 events, ")


def test_the_monitor_round_prunes_when_due(ages, settings):
    settings.CONFIG = dataclasses.replace(settings.CONFIG, hosts=[], datasources={})
    _events(2, days_ago=400)
    out = StringIO()
    # The round exits non-zero when a check fails (no cron daemon, say).
    with contextlib.suppress(CommandError):
        call_command("monitor", stdout=out)
    assert "pruned: 2 events" in out.getvalue()
    assert not Event.objects.filter(kind="old").exists()
    out = StringIO()
    with contextlib.suppress(CommandError):
        call_command("monitor", stdout=out)
    assert "pruned" not in out.getvalue()  # done for the next every_hours


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("events_days", -1, "retention.events_days must be between 0 and 36500 days"),
        ("runs_days", 99_999, "retention.runs_days must be between 0 and 36500 days"),
        ("batch_size", 0, "retention.batch_size must be between 1 and 100000"),
        ("every_hours", 0, "retention.every_hours must be between 1 and 720"),
    ],
)
def test_bad_retention_settings_name_the_key(tmp_path, key, value, message):
    assert error_for(tmp_path, with_(MINIMAL, f"retention.{key}", value)) == (
        f"config.yaml: {message}"
    )


def test_the_defaults_keep_half_a_year_of_events():
    assert RetentionConfig().events_days == 180
