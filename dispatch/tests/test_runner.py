"""The runner end to end on the real SQLite3 and MariaDB ODBC drivers, with a
real (tiny) AutoGluon model."""

import datetime as dt
import os
import threading
from decimal import Decimal

import pandas as pd
import pytest

from dispatch import runner
from dispatch.models import Dispatch, RunStatus, SinkMode, Trigger
from dispatch.tests.conftest import sink_count, sink_rows
from mlframework.events.models import Event
from mlframework.lib import odbc

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def _events(run):
    return list(
        Event.objects.using("events")
        .filter(dispatch_run_id=run.pk)
        .order_by("created")
        .values_list("kind", flat=True)
    )


@pytest.fixture
def scoring(tiny_classifier, make_dispatch, source_table, tables):
    """A dispatch scoring a fresh penguins source table into a fresh sink."""

    def make(source: str, sink: str | None = None, **fields) -> Dispatch:
        sink = sink or source
        values = {
            "model": tiny_classifier.model,
            "source_datasource": source,
            "source_query": f"SELECT * FROM {source_table(source)}",
            "sink_datasource": sink,
            "sink_table": tables(sink, "sink"),
            "key_columns": ["id"],
            "chunk_size": 100,
        }
        values.update(fields)
        return make_dispatch(**values)

    return make


@pytest.mark.slow
def test_it_scores_every_row_into_the_sink(
    datasource, scoring, tiny_classifier, penguins_frame
):
    dispatch = scoring(datasource, include_probabilities=True)
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.trigger == Trigger.CRON and run.scheduled_for is not None
    assert (run.rows_read, run.rows_written) == (344, 344)
    assert run.model_version == tiny_classifier
    assert set(run.timings) >= {"read", "predict", "write", "total"}
    assert run.pid and run.host and run.finished >= run.started
    rows = sink_rows(datasource, dispatch.sink_table)
    assert len(rows) == 344 and [r["id"] for r in rows] == list(range(1, 345))
    first = rows[0]
    assert first["prediction"] in tiny_classifier.classes
    assert first["run_id"] == run.pk and first["model_version"] == "penguins v1"
    assert first["run_key"] == run.run_key == run.scheduled_for.strftime("%Y-%m-%d")
    assert str(first["scored_at"])[:4] == str(run.started.year)
    probabilities = [first[f"proba_{c}"] for c in tiny_classifier.classes]
    assert sum(probabilities) == pytest.approx(1, abs=1e-6)
    # Most penguins are recognised: the model really ran.
    truth = pd.read_csv("demo/penguins.csv")["species"].tolist()
    right = sum(r["prediction"] == t for r, t in zip(rows, truth, strict=True))
    assert right > 300
    # Exactly what AutoGluon itself predicts for these rows, though the run
    # hands it text coded by Arrow and takes the one-pass feature pipeline.
    from registry.tests.helpers import as_trained

    theirs, proba = as_trained(tiny_classifier).predict_both(
        penguins_frame.drop(columns=["species"])
    )
    assert [r["prediction"] for r in rows] == theirs.tolist()
    for label in tiny_classifier.classes:
        ours = [r[f"proba_{label}"] for r in rows]
        assert ours == pytest.approx(proba[label].tolist(), rel=1e-12, abs=1e-15)
    assert _events(run)[0] == "started" and _events(run)[-1] == "finished"


@pytest.mark.slow
def test_a_source_read_in_pages_scores_every_row_once(
    datasource, scoring, tiny_classifier
):
    # Pages of 100 rows by id (344 rows: three full pages and a short one),
    # from a query that filters, as a user would write it.
    dispatch = scoring(datasource, page_by="id")
    dispatch.source_query += " WHERE id <= 300"
    dispatch.save()
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.rows_read, run.rows_written) == (300, 300)
    rows = sink_rows(datasource, dispatch.sink_table)
    assert [r["id"] for r in rows] == list(range(1, 301))


def test_reading_and_predicting_give_way_to_the_writer(scoring, monkeypatch):
    # A real run: the read and predict threads lower their priority and
    # take the batch policy; the writer keeps the run's priority.
    seen = {}

    def spy(stage, function):
        def wrapped(*args, **kwargs):
            tid = threading.get_native_id()
            seen.setdefault(
                stage,
                (os.getpriority(os.PRIO_PROCESS, tid), os.sched_getscheduler(tid)),
            )
            return function(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(runner._Chunker, "take", spy("read", runner._Chunker.take))
    monkeypatch.setattr(
        runner._Pipeline, "_output", spy("predict", runner._Pipeline._output)
    )
    monkeypatch.setattr(
        odbc.TransactionWriter, "write", spy("write", odbc.TransactionWriter.write)
    )
    tid = threading.get_native_id()
    before = (os.getpriority(os.PRIO_PROCESS, tid), os.sched_getscheduler(tid))
    assert before[1] == os.SCHED_OTHER
    run = runner.run_scheduled(scoring("demo").pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    for stage in ("read", "predict"):  # nicer, and never preempting
        assert seen[stage][0] >= runner.AHEAD_NICENESS
        assert seen[stage][1] == os.SCHED_BATCH
    assert seen["write"] == before
    assert (os.getpriority(os.PRIO_PROCESS, tid), os.sched_getscheduler(tid)) == before


@pytest.mark.slow
def test_paging_by_a_key_that_repeats_fails_and_writes_nothing(datasource, scoring):
    dispatch = scoring(datasource, page_by="year")  # 2007-2009: repeats
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.FAILED
    assert "paging column year has repeated values" in run.error
    assert sink_count(datasource, dispatch.sink_table) == 0


@pytest.mark.slow
def test_a_stored_query_that_writes_fails_its_run_and_changes_nothing(
    datasource, scoring
):
    # Saved before queries were checked, or written to the database directly.
    dispatch = scoring(datasource, retries=2, retry_backoff_seconds=1)
    table = dispatch.source_query.split()[-1]
    before = sink_count(datasource, table)
    Dispatch.objects.filter(pk=dispatch.pk).update(
        source_query=f"WITH x AS (SELECT 1) DELETE FROM {table} WHERE id > 0"
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.FAILED
    assert "DELETE inside a WITH is not a read" in run.error
    assert run.attempt == 1  # refused, not retried
    assert sink_count(datasource, table) == before


@pytest.mark.slow
def test_a_source_without_a_model_column_fails_naming_it(datasource, scoring):
    dispatch = scoring(datasource)
    dispatch.source_query = dispatch.source_query.replace(
        "SELECT *",
        "SELECT id, island, bill_depth_mm, flipper_length_mm, body_mass_g, sex, year",
    )
    dispatch.save()
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.FAILED
    assert "bill_length_mm" in run.error and "lacks" in run.error
    assert run.rows_written == 0 and sink_count(datasource, dispatch.sink_table) == 0
    assert "failed" in _events(run)
    failed = Event.objects.using("events").get(dispatch_run_id=run.pk, kind="failed")
    assert "bill_length_mm" in failed.message and failed.level == "error"


@pytest.mark.slow
def test_a_sink_failing_mid_run_leaves_no_rows(datasource, scoring, tables):
    dispatch = scoring(datasource)
    # Rows with id >= 300 break a constraint: the first chunks are written
    # into the open transaction, then the write fails.
    odbc.execute(
        datasource,
        f"CREATE TABLE {dispatch.sink_table} (id BIGINT CHECK (id < 300), "
        "prediction VARCHAR(40), run_id BIGINT, model_version VARCHAR(100), "
        "run_key VARCHAR(64), scored_at TIMESTAMP NULL)",
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.FAILED
    assert "Writing rows 201-300" in run.error
    assert run.rows_written == 0
    assert sink_count(datasource, dispatch.sink_table) == 0


@pytest.mark.slow
def test_replace_mode_run_twice_gives_one_set_of_rows(datasource, scoring):
    dispatch = scoring(datasource, sink_mode=SinkMode.REPLACE_RUN_KEY)
    first = runner.run_scheduled(dispatch.pk)
    second = runner.run_scheduled(dispatch.pk)
    assert first.status == second.status == RunStatus.SUCCEEDED
    rows = sink_rows(datasource, dispatch.sink_table)
    assert len(rows) == 344 and {r["run_id"] for r in rows} == {second.pk}
    dispatch.sink_mode = SinkMode.APPEND
    dispatch.save()
    runner.run_scheduled(dispatch.pk)
    assert sink_count(datasource, dispatch.sink_table) == 688


@pytest.mark.slow
def test_an_empty_source_replaces_and_creates_nothing(datasource, scoring, tables):
    dispatch = scoring(datasource, sink_mode=SinkMode.REPLACE_ALL)
    assert runner.run_scheduled(dispatch.pk).status == RunStatus.SUCCEEDED
    assert sink_count(datasource, dispatch.sink_table) == 344
    dispatch.source_query += " WHERE id < 0"
    dispatch.save()
    empty = runner.run_scheduled(dispatch.pk)
    assert empty.status == RunStatus.SUCCEEDED, empty.error
    assert (empty.rows_read, empty.rows_written) == (0, 0)
    assert sink_count(datasource, dispatch.sink_table) == 0  # replaced by nothing
    # No rows and no sink table yet: the run succeeds and creates none.
    dispatch.sink_table = tables(datasource, "none")
    dispatch.save()
    assert runner.run_scheduled(dispatch.pk).status == RunStatus.SUCCEEDED
    assert not odbc.table_exists(datasource, dispatch.sink_table)


@pytest.mark.slow
def test_unicode_decimals_dates_and_nulls_round_trip(
    datasource, scoring, penguins_frame, source_table
):
    import pyarrow as pa

    frame = penguins_frame.drop(columns=["species"]).head(4).copy()
    frame["name"] = ["São Paulo", "Ñandú 🐧", None, "平成"]
    frame["price"] = [Decimal("1.50"), Decimal("-2.25"), None, Decimal("1234.56")]
    frame["day"] = [
        dt.date(2026, 1, 2),
        None,
        dt.date(1999, 12, 31),
        dt.date(2000, 2, 29),
    ]
    table = pa.Table.from_pandas(frame, preserve_index=False).cast(
        pa.schema(
            [
                pa.field(f.name, pa.decimal128(10, 2)) if f.name == "price" else f
                for f in pa.Table.from_pandas(frame, preserve_index=False).schema
            ]
        )
    )
    name = source_table(datasource, frame=table.to_pandas())
    dispatch = scoring(
        datasource,
        source_query=f"SELECT * FROM {name}",
        key_columns=["id", "name", "price", "day", "sex"],
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    rows = sink_rows(datasource, dispatch.sink_table)
    assert [r["name"] for r in rows] == ["São Paulo", "Ñandú 🐧", None, "平成"]
    prices = [None if r["price"] is None else Decimal(str(r["price"])) for r in rows]
    assert prices == [Decimal("1.50"), Decimal("-2.25"), None, Decimal("1234.56")]
    assert [None if r["day"] is None else str(r["day"]) for r in rows] == [
        "2026-01-02",
        None,
        "1999-12-31",
        "2000-02-29",
    ]
    assert [r["sex"] for r in rows] == frame["sex"].where(
        frame["sex"].notna(), None
    ).tolist()


def test_a_missing_model_alias_fails_cleanly(make_dispatch, registered_model):
    dispatch = make_dispatch(model=registered_model, version_ref="production")
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.FAILED
    assert "has no alias 'production'" in run.error
    failed = Event.objects.using("events").get(dispatch_run_id=run.pk, kind="failed")
    assert "production" in failed.message


def test_a_value_that_is_not_a_number_is_reported_by_row(
    scoring, penguins_frame, source_table
):
    frame = penguins_frame.drop(columns=["species"]).head(10).copy()
    frame["bill_length_mm"] = [
        None if pd.isna(v) else str(v) for v in frame["bill_length_mm"]
    ]
    frame.loc[6, "bill_length_mm"] = "long"
    dispatch = scoring(
        "demo", source_query=f"SELECT * FROM {source_table('demo', frame)}"
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.FAILED
    assert "row 7, column bill_length_mm: 'long' is not a number" in run.error


def test_a_second_invocation_while_one_runs_is_skipped(scoring):
    dispatch = scoring("demo")
    holder = dispatch.runs.create(status=RunStatus.RUNNING, pid=None, host="elsewhere")
    holder.heartbeat = holder.started = holder.created
    holder.save()
    Dispatch.objects.filter(pk=dispatch.pk).update(claimed_run_id=holder.pk)
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SKIPPED
    assert run.error == f"skipped: already running (run {holder.pk})"
    skipped = Event.objects.using("events").get(dispatch_run_id=run.pk)
    assert skipped.kind == "skipped" and "already running" in skipped.message


def test_the_sweeper_fails_runs_with_a_stale_heartbeat(scoring):
    dispatch = scoring("demo")
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    stale = dispatch.runs.create(
        status=RunStatus.RUNNING, host="elsewhere", started=old, heartbeat=old
    )
    Dispatch.objects.filter(pk=dispatch.pk).update(claimed_run_id=stale.pk)
    assert runner.sweep() == [stale.pk]
    stale.refresh_from_db()
    dispatch.refresh_from_db()
    assert stale.status == RunStatus.FAILED and "no heartbeat" in stale.error
    assert dispatch.claimed_run_id is None
    assert runner.run_scheduled(dispatch.pk).status == RunStatus.SUCCEEDED


def test_fetched_batches_are_cut_into_chunks_that_double_up_to_the_chunk_size():
    import pyarrow as pa

    chunker = runner._Chunker(2, 10)
    for start in range(0, 35, 7):  # small batches of 7 rows are joined
        chunker.add(pa.record_batch({"id": list(range(start, start + 7))}))
    chunks = chunker.take(last=False)
    assert [c.num_rows for c in chunks] == [2, 4, 8, 10, 10]
    assert chunker.rows == 1
    assert chunker.take(last=False) == []
    assert [c.num_rows for c in chunker.take(last=True)] == [1]
    ids = [i for c in chunks for i in c.column(0).to_pylist()]
    assert ids == list(range(34))
    # A batch larger than the chunk is sliced; the rest waits for more rows.
    chunker = runner._Chunker(1000, 10_000)
    chunker.add(pa.record_batch({"id": list(range(10_000))}))
    assert [c.num_rows for c in chunker.take(last=False)] == [1000, 2000, 4000]
    assert chunker.rows == 3000 and chunker.size == 8000
    chunker.add(pa.record_batch({"id": list(range(10_000, 20_000))}))
    chunks = chunker.take(last=True)
    assert [c.num_rows for c in chunks] == [8000, 5000]
    assert chunks[0].column(0).to_pylist() == list(range(7000, 15_000))


def test_the_sweeper_releases_claims_of_ended_or_vanished_runs(make_dispatch):
    import datetime as dt

    ended = make_dispatch()
    done = ended.runs.create(status=RunStatus.SUCCEEDED)
    vanished = make_dispatch()
    stuck = make_dispatch()
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    queued_long_ago = stuck.runs.create(status=RunStatus.QUEUED, created=old)
    fresh = make_dispatch()
    starting = fresh.runs.create(status=RunStatus.QUEUED)
    for dispatch, holder in [
        (ended, done.pk),
        (vanished, 424242),
        (stuck, queued_long_ago.pk),
        (fresh, starting.pk),
    ]:
        Dispatch.objects.filter(pk=dispatch.pk).update(claimed_run_id=holder)
    runner.sweep()
    claims = dict(Dispatch.objects.values_list("pk", "claimed_run_id"))
    assert claims[ended.pk] is None and claims[vanished.pk] is None
    assert claims[stuck.pk] is None and claims[fresh.pk] == starting.pk


def _count_inserts_prepared(monkeypatch) -> list:
    prepared = []
    start = odbc.TransactionWriter.start

    def spy(self, table, schema, *args, **kwargs):
        prepared.append(schema)
        return start(self, table, schema, *args, **kwargs)

    monkeypatch.setattr(odbc.TransactionWriter, "start", spy)
    return prepared


@pytest.mark.parametrize("probabilities", [False, True])
def test_the_insert_is_prepared_once(scoring, monkeypatch, probabilities):
    # Without probabilities ahead of the first chunk, from the expected
    # columns (right here); with them, from the first chunk.
    dispatch = scoring("demo", include_probabilities=probabilities)
    runner.run_scheduled(dispatch.pk)  # creates the sink (from the first chunk)
    prepared = _count_inserts_prepared(monkeypatch)
    sent = []
    put = runner._Pipeline._put
    monkeypatch.setattr(
        runner._Pipeline,
        "_put",
        lambda self, target, item: (
            sent.append(type(item).__name__) or put(self, target, item)
        ),
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert len(prepared) == 1
    assert ("_Expected" in sent) is not probabilities
    assert sink_count("demo", dispatch.sink_table) == 2 * 344


def test_a_wrong_guess_of_the_columns_is_prepared_again(scoring, monkeypatch):
    import pyarrow as pa

    dispatch = scoring("demo")
    runner.run_scheduled(dispatch.pk)
    expected = runner._Pipeline._expected

    def wrong(self, source):
        schema = expected(self, source)
        at = schema.get_field_index("prediction")
        return schema.set(at, pa.field("prediction", pa.int64()))

    monkeypatch.setattr(runner._Pipeline, "_expected", wrong)
    prepared = _count_inserts_prepared(monkeypatch)
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert [s.field("prediction").type for s in prepared] == [pa.int64(), pa.string()]
    rows = sink_rows("demo", dispatch.sink_table)
    assert {r["prediction"] for r in rows} <= {"Adelie", "Chinstrap", "Gentoo"}
    assert len(rows) == 2 * 344
