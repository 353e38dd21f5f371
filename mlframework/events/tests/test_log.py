import json
import uuid

import pytest
from django.core.management import call_command
from django.db import connections

from mlframework.events import spool
from mlframework.events.log import DATA_LIMIT, log_event
from mlframework.events.models import Event, Level

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture(autouse=True)
def _empty_spool():
    spool.path().unlink(missing_ok=True)
    yield
    spool.path().unlink(missing_ok=True)


def stored():
    return list(Event.objects.using("events").order_by("created"))


def test_the_event_log_lives_in_mariadb_under_make_test():
    import os

    if os.environ.get("MLF_REQUIRE_SERVICES"):
        assert connections["events"].vendor == "mysql"
    log_event("core", "probe", "hello")
    with connections["events"].cursor() as cursor:
        cursor.execute("SELECT message FROM events_event")
        assert [row[0] for row in cursor.fetchall()] == ["hello"]


def test_it_stores_every_field(superuser):
    event = log_event(
        "dispatch",
        "run.finished",
        "done: 10 rows",
        level=Level.WARNING,
        user=superuser,
        model_version=7,
        dispatch_run=12,
        data={"rows": 10, "stages": {"read": 0.5}},
    )
    [row] = stored()
    assert row.id == event.id
    assert (row.source, row.kind, row.level) == ("dispatch", "run.finished", "warning")
    assert (row.user_id, row.username) == (superuser.pk, "root")
    assert (row.model_version_id, row.dispatch_run_id) == (7, 12)
    assert row.data == {"rows": 10, "stages": {"read": 0.5}}


def test_it_masks_secrets_in_message_and_data():
    log_event(
        "monitor",
        "datasource.down",
        "cannot connect DRIVER={MariaDB};UID=app;PWD=hunter22;SERVER=x",
        data={"password": "hunter22", "url": "mysql://app:hunter22@db/x", "n": 1},
    )
    [row] = stored()
    assert "hunter22" not in row.message
    assert "hunter22" not in json.dumps(row.data)
    assert row.data["n"] == 1


def test_it_never_raises_on_data_it_cannot_encode():
    event = log_event("core", "odd", "x", data={"thing": object()})
    assert event is not None
    [row] = stored()
    assert "repr" in row.data


def test_an_unknown_level_is_stored_as_info():
    log_event("core", "x", "y", level="loud")
    assert stored()[0].level == "info"


@pytest.mark.django_db(databases=["default", "events"], transaction=True)
def test_it_spools_while_mariadb_is_down_and_replays_in_order(mariadb):
    log_event("core", "before", "stored at once")
    mariadb.stop()
    try:
        down = [log_event("core", "while-down", f"spooled {i}") for i in range(3)]
        assert spool.pending()
        lines = spool.path().read_text().splitlines()
        assert [json.loads(line)["id"] for line in lines] == [str(e.id) for e in down]
    finally:
        mariadb.start()
    log_event("core", "after", "triggers the replay")
    kinds = [e.kind for e in stored()]
    assert kinds == ["before", "while-down", "while-down", "while-down", "after"]
    assert [e.message for e in stored()][1:4] == ["spooled 0", "spooled 1", "spooled 2"]
    assert not spool.pending()


@pytest.mark.django_db(databases=["default", "events"], transaction=True)
def test_the_replay_command_stores_the_spool_once(mariadb, capsys):
    mariadb.stop()
    try:
        events = [log_event("core", "down", f"n{i}") for i in range(2)]
        with pytest.raises(Exception, match="replay failed, the spool is kept"):
            call_command("events", "replay")
        assert spool.pending()
    finally:
        mariadb.start()
    # A replay that was cut off after storing the rows would run again:
    # simulate it by spooling the first event a second time.
    spool.append(events[0])
    call_command("events", "replay")
    assert "replay: 3 events stored" in capsys.readouterr().out
    assert sorted(e.message for e in stored()) == ["n0", "n1"]
    assert not spool.pending()
    call_command("events", "replay")
    assert "the spool is empty" in capsys.readouterr().out


def test_unreadable_spool_lines_are_kept_aside():
    good = Event(source="core", kind="k", message="good", id=uuid.uuid4())
    spool.append(good)
    with open(spool.path(), "a") as handle:
        handle.write("{not json\n")
    assert spool.replay() == 1
    assert [e.message for e in stored()] == ["good"]
    assert spool.path().with_suffix(".bad").read_text() == "{not json\n"
    spool.path().with_suffix(".bad").unlink()


def test_a_small_payload_is_stored_as_given():
    log_event("core", "x", "y", data={"rows": 3, "text": "z" * 5000})
    assert stored()[0].data == {"rows": 3, "text": "z" * 5000}


def test_a_megabyte_payload_is_stored_cut_under_the_cap_and_marked():
    big = "x" * 1_000_000
    log_event(
        "showroom",
        "prediction",
        "m" * 1_000_000,
        data={"inputs": [{"text": big}], "unseen": [{"text": big}], "rows": 1},
    )
    [row] = stored()
    assert len(json.dumps(row.data)) <= DATA_LIMIT
    assert row.data["_truncated"] is True and row.data["_original_bytes"] > 2_000_000
    assert row.data["rows"] == 1
    text = row.data["inputs"][0]["text"]
    assert text.startswith("x" * 1000) and text.endswith("[cut: 1000000 characters]")
    assert len(row.message) < 2100 and row.message.endswith("characters]")


def test_a_payload_still_too_large_once_cut_drops_its_largest_entries():
    rows = [{f"c{i}": "v" * 900 for i in range(100)} for _ in range(100)]
    log_event("core", "x", "y", data={"rows": rows, "count": 100})
    [row] = stored()
    assert len(json.dumps(row.data)) <= DATA_LIMIT
    assert row.data["_dropped"] == ["rows"] and row.data["count"] == 100


def test_secrets_are_masked_before_a_long_text_is_cut():
    url = "mysql://app:" + "p" * 2000 + "@db/x"
    log_event("core", "x", "y", data={"url": url, "pad": "z" * 70_000})
    [row] = stored()
    assert "ppp" not in json.dumps(row.data) and row.data["_truncated"]
