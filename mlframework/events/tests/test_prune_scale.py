"""Pruning a million events: bounded memory, and the platform keeps answering
(the event log's table is never held). On the real MariaDB of the test config."""

import threading
import time
import tracemalloc

import psutil
import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from conftest import require_service
from mlframework.events.log import prune_events
from mlframework.events.models import Event
from mlframework.events.routers import EVENTS_DB

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "events"]),
]

MILLION = 1_000_000
CHUNK = 100_000  # rows per INSERT ... SELECT
SOURCE = "prune-scale"
MB = 1024 * 1024
# Ten digits, cross-joined: 10**5 rows a statement, no recursion limit to meet.
_DIGITS = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))


def _insert_old_events(days_ago: int) -> None:
    with connections[EVENTS_DB].cursor() as cursor:
        cursor.execute(
            "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE "
            "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = 'id'",
            [Event._meta.db_table],
        )
        native_uuid = cursor.fetchone()[0] == "uuid"
        new_id = "UUID()" if native_uuid else "REPLACE(UUID(), '-', '')"
        for start in range(0, MILLION, CHUNK):
            cursor.execute(
                f"INSERT INTO {Event._meta.db_table} "
                "(id, created, source, kind, level, message, user_id, username, "
                "model_version_id, dispatch_run_id, data) "
                f"SELECT {new_id}, "
                "UTC_TIMESTAMP(6) - INTERVAL %s DAY - INTERVAL n SECOND, "
                "%s, 'old', 'info', CONCAT('old event ', n), "
                "NULL, '', NULL, NULL, '{}' "
                f"FROM (SELECT %s + a.d + 10 * b.d + 100 * c.d + 1000 * e.d "
                f"+ 10000 * f.d AS n FROM ({_DIGITS}) a CROSS JOIN ({_DIGITS}) b "
                f"CROSS JOIN ({_DIGITS}) c CROSS JOIN ({_DIGITS}) e "
                f"CROSS JOIN ({_DIGITS}) f) numbers",
                [days_ago, SOURCE, start],
            )


@pytest.fixture
def million_old_events():
    require_service(
        connections[EVENTS_DB].vendor == "mysql", "the test MariaDB events database"
    )
    started = time.perf_counter()
    _insert_old_events(days_ago=400)
    Event.objects.bulk_create(
        Event(source=SOURCE, kind="recent", message=f"recent {i}") for i in range(10)
    )
    print(f"inserted {MILLION} events in {time.perf_counter() - started:.1f} s")
    yield
    # Whatever a failure left: in batches too, so the cleanup holds nothing.
    prune_events(timezone.now() + timezone.timedelta(days=1), 20_000)


def test_a_million_events_are_pruned_in_bounded_memory_while_pages_answer(
    million_old_events, viewer_client
):
    assert Event.objects.filter(source=SOURCE).count() == MILLION + 10
    cutoff = timezone.now() - timezone.timedelta(days=180)
    batch = settings.CONFIG.retention.batch_size
    outcome: dict = {}

    def prune() -> None:
        try:
            outcome["deleted"] = prune_events(cutoff, batch)
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc
        finally:
            connections[EVENTS_DB].close()

    process = psutil.Process()
    rss_before = process.memory_info().rss
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    worker = threading.Thread(target=prune, name="prune")
    worker.start()
    answers = []
    while worker.is_alive():
        asked = time.perf_counter()
        response = viewer_client.get("/events/", {"source": SOURCE})
        answers.append(time.perf_counter() - asked)
        assert response.status_code == 200
        time.sleep(0.2)
    worker.join()
    took = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    rss_growth = process.memory_info().rss - rss_before
    median = sorted(answers)[len(answers) // 2]
    print(
        f"pruned in {took:.1f} s ({batch} per batch); peak traced "
        f"{peak / MB:.1f} MB, RSS +{rss_growth / MB:.1f} MB; {len(answers)} pages, "
        f"slowest {max(answers):.2f} s, median {median:.2f} s"
    )
    assert "error" not in outcome, outcome.get("error")
    assert outcome["deleted"] == MILLION
    assert Event.objects.filter(source=SOURCE).count() == 10  # the recent ones
    assert peak < 50 * MB
    assert rss_growth < 200 * MB
    assert len(answers) >= 3  # pages were asked for while it ran
    assert max(answers) < 5.0  # no page waited on the table
