"""The writer thread web workers hand their events to (events.write_behind)."""

import json
import subprocess
import sys
import textwrap
import threading
import urllib.request
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from mlframework.events import log, spool
from mlframework.events.log import log_event
from mlframework.events.models import Event
from showroom.services import jsonable
from showroom.tests.test_warm import _free_port, start_gunicorn
from showroom.warm import example_frame

# The writer stores through its own connection: only committed rows are seen.
pytestmark = pytest.mark.django_db(databases=["default", "events"], transaction=True)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _empty_spool():
    spool.path().unlink(missing_ok=True)
    yield
    spool.path().unlink(missing_ok=True)


@pytest.fixture
def writer():
    log.start_writer()
    yield
    assert log.stop_writer(timeout=30)


def messages() -> list[str]:
    return list(
        Event.objects.using("events")
        .order_by("created")
        .values_list("message", flat=True)
    )


def test_queued_events_are_stored_once_flushed(writer):
    events = [log_event("core", "queued", f"n{i}") for i in range(5)]
    assert all(event is not None for event in events)
    assert log.flush(timeout=30)
    assert messages() == [f"n{i}" for i in range(5)]
    assert sorted(Event.objects.using("events").values_list("id", flat=True)) == (
        sorted(event.id for event in events)
    )


def test_a_burst_larger_than_a_batch_is_stored_whole_and_once(writer):
    count = log.BATCH_LIMIT * 2 + 7
    for i in range(count):
        log_event("core", "burst", f"n{i}")
    assert log.flush(timeout=60)
    stored = messages()
    assert len(stored) == count
    assert set(stored) == {f"n{i}" for i in range(count)}


def test_without_the_writer_the_event_is_stored_before_log_event_returns():
    assert not log._writer.running()
    log_event("core", "sync", "at once")
    assert messages() == ["at once"]


def test_after_stop_events_are_stored_by_the_caller_again():
    log.start_writer()
    log_event("core", "queued", "before stop")
    assert log.stop_writer(timeout=30)
    assert messages() == ["before stop"]  # stop stores what was queued
    log_event("core", "sync", "after stop")
    assert messages() == ["before stop", "after stop"]


def test_a_full_queue_makes_the_caller_store_its_event(writer, monkeypatch):
    assert log.stop_writer(timeout=30)
    monkeypatch.setattr(log, "QUEUE_LIMIT", 2)
    release, busy = threading.Event(), threading.Event()
    real = log.store_all

    def held(events):
        busy.set()
        release.wait(30)
        return real(events)

    monkeypatch.setattr(log, "store_all", held)
    log.start_writer()
    log_event("core", "queued", "taken by the writer")
    assert busy.wait(30)
    log_event("core", "queued", "waiting 1")
    log_event("core", "queued", "waiting 2")  # the queue is full now
    log_event("core", "sync", "stored by the caller")
    assert messages() == ["stored by the caller"]
    release.set()
    assert log.flush(timeout=30)
    assert sorted(messages()) == sorted(
        ["taken by the writer", "waiting 1", "waiting 2", "stored by the caller"]
    )


def test_events_survive_a_database_outage_into_the_spool(writer, mariadb):
    log_event("core", "before", "stored")
    assert log.flush(timeout=30)
    mariadb.stop()
    try:
        down = [log_event("core", "while-down", f"spooled {i}") for i in range(3)]
        assert log.flush(timeout=60)
        assert spool.pending()
        lines = spool.path().read_text().splitlines()
        assert len(lines) == 3
        assert all(str(event.id) in "".join(lines) for event in down)
    finally:
        mariadb.start()
    log_event("core", "after", "triggers the replay")
    assert log.flush(timeout=60)
    assert not spool.pending()
    stored = messages()
    assert stored[0] == "stored" and stored[-1] == "triggers the replay"
    assert sorted(stored[1:4]) == ["spooled 0", "spooled 1", "spooled 2"]


@pytest.mark.slow
def test_no_queued_event_is_lost_when_the_process_exits(process_env):
    # A process that queues many events and exits at once, without flushing.
    script = textwrap.dedent(
        """
        import django, os, sys
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlframework.settings")
        django.setup()
        from mlframework.events import log
        log.start_writer()
        for i in range(2000):
            log.log_event("core", "exit", f"n{i}")
        sys.exit(0)
        """
    )
    subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=process_env, check=True
    )
    assert Event.objects.using("events").filter(kind="exit").count() == 2000


@pytest.mark.slow
def test_gunicorn_workers_write_behind_and_flush_when_stopped(
    tiny_classifier, analyst, process_env, tmp_path
):
    example = example_frame(tiny_classifier.features).iloc[0]
    row = {name: jsonable(value) for name, value in example.items()}
    token = Token.objects.create(user=analyst).key
    port = _free_port()
    server, log_file = start_gunicorn(port, process_env, tmp_path)
    try:
        assert "events: written by a writer thread" in log_file.read_text()
        body = json.dumps({"model": tiny_classifier.model.name, "row": row}).encode()
        for _ in range(20):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/showroom/predict/",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Token {token}",
                },
            )
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                assert response.status == 200
    finally:
        server.terminate()
        server.wait(timeout=60)
    stored = Event.objects.using("events").filter(source="showroom", kind="prediction")
    assert stored.count() == 20
