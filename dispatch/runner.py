"""The streaming runner: source -> model -> sink, all or nothing.

A run claims its dispatch with a conditional UPDATE that must touch one row,
so an overlapping invocation is recorded as skipped. Three stages overlap in
threads joined by small bounded queues: reading the source (arrow-odbc),
predicting (the registry's cached predictor) and writing (arrow-odbc bulk
insert into one open transaction). Only when every row is written is the
transaction committed; a failure rolls it back, and a killed process leaves an
uncommitted transaction the database discards. A heartbeat thread keeps the
run row fresh so the sweeper can tell a dead run from a slow one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import queue
import re
import socket
import threading
import time
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
from django.db import close_old_connections, connections
from django.utils import timezone

from dispatch.models import Dispatch, DispatchRun, RunStatus, SinkMode, Trigger
from mlframework.events.log import log_event
from mlframework.lib import memory, odbc
from monitor.drift import runs as drift
from registry import services as registry
from registry import shadow
from registry.errors import RegistryError, SchemaError

logger = logging.getLogger("mlframework.dispatch")

SOURCE = "dispatch"
HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 120.0
PROGRESS_EVENT_SECONDS = 10.0
QUEUE_DEPTH = 2
# The first chunk is small and each next one twice the last, up to the
# dispatch's chunk size: predicting and writing start while the rest is still
# being read, and the writer gets its next chunk about when it is done with
# the last, instead of waiting for a whole chunk_size of rows at the start.
FIRST_CHUNK_ROWS = 1000
# Niceness of the read and predict threads (see _yield_cpu).
AHEAD_NICENESS = 5
# Small ODBC fetch buffers: wide text columns (VARCHAR(4000), TEXT) would
# otherwise allocate for the widest value times the chunk's rows; the small
# batches are joined again into chunks. 4 MB reads as fast as 16 MB and
# faults in a third of the pages in a new process (bench/RESULTS.md).
READ_BUFFER_BYTES = 4 * 1024 * 1024
# The first page (read_pages) gets smaller buffers, so it arrives sooner in a
# new process (bench/RESULTS.md).
FIRST_PAGE_BUFFER_BYTES = 1024 * 1024
# Unbounded text columns (TEXT) are read with buffers of this many bytes per
# value; a longer value fails the run with that reason.
READ_MAX_TEXT_BYTES = 4096
RESERVED = ("prediction", "run_id", "model_version", "run_key", "scored_at")
_DONE = object()


@dataclass
class _Expected:
    """The columns the predict stage expects to hand the writer, sent ahead
    of its first chunk so the insert is prepared while that is predicted."""

    schema: pa.Schema


# A run's first step checks its query: the parser's first parse in a process
# builds its tables, so that is done when the runner is imported, not then.
odbc.warm_parser()


class RunError(Exception):
    """A run failed for a reason the user can act on; str() says what and where."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass
class _Progress:
    rows_read: int = 0
    rows_written: int = 0
    chunks: int = 0
    seconds: dict = field(
        default_factory=lambda: {"read": 0.0, "predict": 0.0, "write": 0.0}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, stage: str, seconds: float) -> None:
        with self.lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


def run_scheduled(dispatch_id: int) -> DispatchRun:
    """What cron calls: record a run for the time cron fired, then execute it."""
    try:
        dispatch = Dispatch.objects.get(pk=dispatch_id)
    except Dispatch.DoesNotExist:
        raise RunError(f"There is no dispatch {dispatch_id}.") from None
    run = DispatchRun.objects.create(
        dispatch=dispatch,
        trigger=Trigger.CRON,
        scheduled_for=dispatch.previous_due(),
    )
    return _execute(run)


def execute(run_id: int) -> DispatchRun:
    """Execute a queued run, retrying transient failures as the dispatch says."""
    return _execute(DispatchRun.objects.select_related("dispatch").get(pk=run_id))


def _execute(run: DispatchRun) -> DispatchRun:
    while True:
        run = _execute_once(run)
        dispatch = run.dispatch
        if run.status != RunStatus.FAILED or not getattr(run, "_transient", False):
            return run
        if run.attempt > dispatch.retries:
            return run
        wait = dispatch.retry_backoff_seconds * (2 ** (run.attempt - 1))
        log_event(
            SOURCE,
            "retry",
            f"Dispatch {dispatch.name}: retrying in {wait} s "
            f"(attempt {run.attempt + 1} of {dispatch.retries + 1})",
            dispatch_run=run,
            level="warning",
            data={"dispatch": dispatch.pk, "wait_seconds": wait},
        )
        time.sleep(wait)
        run = DispatchRun.objects.create(
            dispatch=dispatch,
            trigger=Trigger.RETRY,
            scheduled_for=run.scheduled_for,
            attempt=run.attempt + 1,
            requested_by=run.requested_by,
        )


def sweep(now: dt.datetime | None = None) -> list[int]:
    """Mark runs failed whose process died (same host) or whose heartbeat went
    stale, and release their claims. Returns the run ids it failed."""
    now = now or timezone.now()
    host = socket.gethostname()
    stale_before = now - dt.timedelta(seconds=STALE_AFTER_SECONDS)
    failed = []
    for run in DispatchRun.objects.filter(status=RunStatus.RUNNING).select_related(
        "dispatch"
    ):
        beat = run.heartbeat or run.started or run.created
        if run.host == host and run.pid and not _alive(run.pid):
            reason = f"its process (PID {run.pid}) is gone"
        elif beat < stale_before:
            reason = f"no heartbeat since {beat:%Y-%m-%d %H:%M:%S %Z}"
        else:
            continue
        updated = DispatchRun.objects.filter(
            pk=run.pk, status=RunStatus.RUNNING
        ).update(
            status=RunStatus.FAILED,
            finished=now,
            error=f"The run died: {reason}. Nothing it wrote was committed.",
        )
        if not updated:
            continue
        Dispatch.objects.filter(pk=run.dispatch_id, claimed_run_id=run.pk).update(
            claimed_run_id=None
        )
        failed.append(run.pk)
        log_event(
            SOURCE,
            "failed",
            f"Dispatch {run.dispatch.name}: run {run.pk} died ({reason}); "
            "marked failed, its sink transaction was never committed",
            level="error",
            dispatch_run=run,
            data={"dispatch": run.dispatch_id, "swept": True},
        )
    # Claims whose run ended, vanished, or was killed between claiming and
    # being marked running (queued for longer than a heartbeat can lag).
    for dispatch in Dispatch.objects.filter(claimed_run_id__isnull=False):
        holder = DispatchRun.objects.filter(pk=dispatch.claimed_run_id).first()
        if holder is not None and holder.status == RunStatus.RUNNING:
            continue
        if (
            holder is not None
            and holder.status == RunStatus.QUEUED
            and holder.created >= stale_before
        ):
            continue  # about to be marked running
        Dispatch.objects.filter(
            pk=dispatch.pk, claimed_run_id=dispatch.claimed_run_id
        ).update(claimed_run_id=None)
    return failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------
# One attempt
# --------------------------------------------------------------------------


def _execute_once(run: DispatchRun) -> DispatchRun:
    dispatch = run.dispatch

    def claim() -> bool:
        return (
            Dispatch.objects.filter(pk=dispatch.pk, claimed_run_id__isnull=True).update(
                claimed_run_id=run.pk
            )
            == 1
        )

    claimed = claim()
    if not claimed:  # held by a run that died, perhaps: sweep, then again
        sweep()
        claimed = claim()
    if not claimed:
        holder = Dispatch.objects.filter(pk=dispatch.pk).values_list(
            "claimed_run_id", flat=True
        )
        run.status = RunStatus.SKIPPED
        run.finished = timezone.now()
        run.error = f"skipped: already running (run {holder.first()})"
        run.save(update_fields=["status", "finished", "error"])
        log_event(
            SOURCE,
            "skipped",
            f"Dispatch {dispatch.name}: skipped: already running "
            f"(run {holder.first()})",
            level="warning",
            dispatch_run=run,
            data={"dispatch": dispatch.pk},
        )
        return run
    now = timezone.now()
    run.status = RunStatus.RUNNING
    run.started = run.heartbeat = now
    run.host = socket.gethostname()[:255]
    run.pid = os.getpid()
    run.run_key = dispatch.run_key_for(run.scheduled_for or now)
    run.save(update_fields=["status", "started", "heartbeat", "host", "pid", "run_key"])
    progress = _Progress()
    pipeline = _Pipeline(run, progress)
    started = time.perf_counter()
    try:
        _begin(run, pipeline)
    except Exception as exc:  # reported below, after "started"
        not_started: Exception | None = exc
    else:
        not_started = None
    log_event(
        SOURCE,
        "started",
        f"Dispatch {dispatch.name}: run {run.pk} started "
        f"({run.get_trigger_display().lower()}, attempt {run.attempt})",
        dispatch_run=run,
        data={"dispatch": dispatch.pk, "pid": run.pid, "host": run.host},
    )
    beat = _Heartbeat(run, progress)
    beat.start()
    try:
        if not_started is not None:
            raise not_started
        pipeline.wait()
    except Exception as exc:  # every failure is recorded, then reported
        pipeline.abort()
        beat.stop()
        transient = isinstance(exc, RunError) and exc.transient
        if isinstance(exc, odbc.OdbcError):
            transient = odbc.is_transient(exc)
        message = _describe(exc)
        _add_drift_time(pipeline, progress)
        if not isinstance(exc, RunError | odbc.OdbcError | RegistryError):
            logger.exception("dispatch run %s failed unexpectedly", run.pk)
        _finish(run, progress, started, RunStatus.FAILED, message)
        run._transient = transient
        if pipeline.drift is not None:
            pipeline.drift.finish(succeeded=False)
        if pipeline.shadow is not None:
            pipeline.shadow.discard()
        log_event(
            SOURCE,
            "failed",
            f"Dispatch {dispatch.name}: run {run.pk} failed: {message}",
            level="error",
            dispatch_run=run,
            model_version=run.model_version_id,
            data={
                "dispatch": dispatch.pk,
                "rows_read": progress.rows_read,
                "transient": transient,
                "timings": run.timings,
            },
        )
    else:
        beat.stop()
        _add_drift_time(pipeline, progress)
        _finish(run, progress, started, RunStatus.SUCCEEDED, "")
        log_event(
            SOURCE,
            "finished",
            f"Dispatch {dispatch.name}: run {run.pk} finished: "
            f"{run.rows_read} rows read, {run.rows_written} written in "
            f"{run.timings.get('total', 0):.1f} s",
            dispatch_run=run,
            model_version=run.model_version_id,
            data={
                "dispatch": dispatch.pk,
                "rows_read": run.rows_read,
                "rows_written": run.rows_written,
                "timings": run.timings,
            },
        )
        if pipeline.drift is not None:
            pipeline.drift.finish(succeeded=True)
        if pipeline.shadow is not None:
            pipeline.shadow.finish()
    finally:
        Dispatch.objects.filter(pk=dispatch.pk, claimed_run_id=run.pk).update(
            claimed_run_id=None
        )
    return run


def _add_drift_time(pipeline: _Pipeline, progress: _Progress) -> None:
    """Drift is gathered inside the predict stage: its share shown apart."""
    if pipeline.drift is not None and pipeline.drift.seconds:
        progress.add("drift", pipeline.drift.seconds)


def sweep_after_run() -> None:
    """What the entry points (cron's command, the "Run now" task) do once a
    run is over: sweep other dispatches' dead runs. Not during a run, whose
    first chunks would share the CPU with the sweep's queries; a failing
    sweep is logged and changes nothing about the run."""
    try:
        sweep()
    except Exception:
        logger.exception("sweeping dead dispatch runs failed")


def _finish(run, progress, started, status, error) -> None:
    run.status = status
    run.error = error
    run.finished = timezone.now()
    run.rows_read = progress.rows_read
    run.rows_written = progress.rows_written if status == RunStatus.SUCCEEDED else 0
    run.timings = {
        **{k: round(v, 3) for k, v in progress.seconds.items()},
        "total": round(time.perf_counter() - started, 3),
    }
    run.save(
        update_fields=[
            "status",
            "error",
            "finished",
            "rows_read",
            "rows_written",
            "timings",
            "model_version",
        ]
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, RunError | odbc.OdbcError | RegistryError):
        return str(exc)
    return f"unexpected error: {type(exc).__name__}: {exc}"


class _Heartbeat(threading.Thread):
    """Touches the run row and emits batched progress events."""

    def __init__(self, run: DispatchRun, progress: _Progress) -> None:
        super().__init__(name=f"heartbeat-{run.pk}", daemon=True)
        self.run_id = run.pk
        self.run_name = run.dispatch.name
        self.progress = progress
        self._stop_event = threading.Event()

    def run(self) -> None:
        last_event = time.monotonic()
        last_chunks = 0
        try:
            while not self._stop_event.wait(HEARTBEAT_SECONDS):
                DispatchRun.objects.filter(
                    pk=self.run_id, status=RunStatus.RUNNING
                ).update(
                    heartbeat=timezone.now(),
                    rows_read=self.progress.rows_read,
                )
                chunks = self.progress.chunks
                if (
                    chunks > last_chunks
                    and time.monotonic() - last_event >= PROGRESS_EVENT_SECONDS
                ):
                    log_event(
                        SOURCE,
                        "progress",
                        f"Dispatch {self.run_name}: {self.progress.rows_read} rows "
                        f"read, {self.progress.rows_written} written "
                        f"({chunks} chunks)",
                        dispatch_run=self.run_id,
                        data={
                            "rows_read": self.progress.rows_read,
                            "rows_written": self.progress.rows_written,
                            "chunks": chunks,
                        },
                    )
                    last_event, last_chunks = time.monotonic(), chunks
        except Exception:
            logger.exception("heartbeat of run %s failed", self.run_id)
        finally:
            connections.close_all()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=HEARTBEAT_SECONDS * 2)


# --------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------


def _begin(run: DispatchRun, pipeline: _Pipeline) -> None:
    """Start the run's three threads as early as each can start: after the
    checks that need no model, the source read and the sink's transaction
    (the writer thread); once the model is resolved, predicting. The first
    chunk is on its way while the run is logged."""
    dispatch = run.dispatch
    _check_names(dispatch)
    memory.keep_freed_buffers()  # page buffers reused, not faulted in afresh
    for name in {dispatch.source_datasource, dispatch.sink_datasource}:
        odbc.use_wal(name)
    pipeline.start_reading()
    pipeline.start_writing()
    version = registry.resolve(dispatch.model, dispatch.version_ref)
    run.model_version = version
    DispatchRun.objects.filter(pk=run.pk).update(model_version=version)
    scored_at = timezone.now()
    constants = {
        "run_id": pa.scalar(run.pk, pa.int64()),
        "model_version": pa.scalar(str(version), pa.string()),
        "run_key": pa.scalar(run.run_key, pa.string()),
        "scored_at": pa.scalar(
            scored_at.astimezone(dt.UTC).replace(tzinfo=None), pa.timestamp("ms")
        ),
    }
    # The drift of the inputs and predictions, gathered in the predict stage.
    pipeline.drift = drift.watch(run, version)
    # Challengers shadowing this version predict the same batches (registry.shadow).
    pipeline.shadow = shadow.watch(run, version)
    pipeline.start_predicting(version, constants, registry)


def _check_names(dispatch: Dispatch) -> None:
    sink = dispatch.sink_datasource
    try:
        odbc.quote(sink, dispatch.sink_table)
        for column in dispatch.key_columns:
            odbc.quote(sink, column)
    except ValueError as exc:
        raise RunError(f"The sink of dispatch {dispatch.name}: {exc}") from None
    clash = sorted(set(dispatch.key_columns) & set(RESERVED))
    if clash:
        raise RunError(
            f"Key columns {', '.join(clash)} clash with the columns the dispatch "
            f"adds ({', '.join(RESERVED)})."
        )


class _Chunker:
    """Cuts fetched batches into chunks: FIRST_CHUNK_ROWS rows, then each
    chunk twice the last, up to `limit` rows. Small fetched batches are
    joined, large ones sliced (no copy)."""

    def __init__(self, first: int, limit: int) -> None:
        self.size = min(first, limit)
        self.limit = limit
        self.pending: list[pa.RecordBatch] = []
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.pending.append(batch)
            self.rows += batch.num_rows

    def take(self, last: bool) -> list[pa.RecordBatch]:
        """The chunks complete now (with `last`, also the short final one)."""
        chunks = []
        while self.rows and (self.rows >= self.size or last):
            chunks.append(self._head(min(self.size, self.rows)))
            self.size = min(self.size * 2, self.limit)
        return chunks

    def _head(self, rows: int) -> pa.RecordBatch:
        first = self.pending[0]
        if first.num_rows >= rows:
            chunk = first.slice(0, rows)
            if first.num_rows > rows:
                self.pending[0] = first.slice(rows)
            else:
                self.pending.pop(0)
        else:
            table = pa.Table.from_batches(self.pending)
            chunk = table.slice(0, rows).combine_chunks().to_batches()[0]
            self.pending = table.slice(rows).to_batches()
        self.rows -= rows
        return chunk


def sink_column(name: str) -> str:
    """A valid sink column name for `name` (probability columns: proba_<class>)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", str(name))[:64]
    return cleaned if re.match(r"[A-Za-z_]", cleaned) else f"c_{cleaned}"[:64]


def _yield_cpu() -> None:
    """Lower the calling thread's priority (Linux: per thread).

    The read and predict threads do this, so the writer, the stage that
    bounds a run (it holds the one sink transaction), and the database
    server inserting its rows are not kept waiting for a core while they
    work ahead: a higher niceness, and the batch scheduling policy (a thread
    woken with work waits for a free core instead of preempting a running
    one). Both were measured faster (bench/RESULTS.md). Threads they start
    (the driver's fetch thread) inherit both. A refusal (some sandboxes)
    leaves the thread as it was.
    """
    tid = threading.get_native_id()
    with contextlib.suppress(OSError, AttributeError):
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, max(current, AHEAD_NICENESS))
    with contextlib.suppress(OSError, AttributeError):
        if os.sched_getscheduler(tid) == os.SCHED_OTHER:
            os.sched_setscheduler(tid, os.SCHED_BATCH, os.sched_param(0))


class _Pipeline:
    """Three stages in three threads joined by bounded queues: read and write
    start as soon as the run is claimed (start_reading, start_writing),
    predict once the model is known (start_predicting); wait() until the
    writer has committed or the first failure."""

    def __init__(self, run, progress) -> None:
        self.dispatch_run = run
        self.dispatch = run.dispatch
        self.progress = progress
        self.read_queue: queue.Queue = queue.Queue(QUEUE_DEPTH)
        self.write_queue: queue.Queue = queue.Queue(QUEUE_DEPTH)
        self.failed = threading.Event()
        self.errors: list[BaseException] = []
        self.threads: dict[str, threading.Thread] = {}
        self.drift: drift.RunWatch | None = None
        self.shadow: shadow.ShadowPass | None = None

    # Each stage hands its output to the next; a failing stage records its
    # error and sets `failed`, which every other stage checks while waiting.
    def _put(self, target: queue.Queue, item) -> bool:
        while not self.failed.is_set():
            try:
                target.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, source: queue.Queue):
        while not self.failed.is_set():
            try:
                return source.get(timeout=0.2)
            except queue.Empty:
                continue
        return _DONE

    def _fail(self, exc: BaseException) -> None:
        self.errors.append(exc)
        self.failed.set()

    def _start(self, stage: str, target) -> None:
        def guarded() -> None:
            try:
                target()
            except BaseException as exc:
                self._fail(exc)

        thread = threading.Thread(target=guarded, name=f"dispatch-{stage}", daemon=True)
        self.threads[stage] = thread
        thread.start()

    def start_reading(self) -> None:
        self._start("read", self._read)

    def start_writing(self) -> None:
        # Started from the run's thread, so it keeps the run's priority
        # (the read and predict threads lower theirs: _yield_cpu).
        self._start("write", self._write)

    def start_predicting(self, version, constants, registry) -> None:
        self.version = version
        self.constants = constants
        self.registry = registry
        self._start("predict", self._predict)

    def wait(self) -> None:
        """Until the writer is done (committed, or rolled back on a failure
        anywhere); then the first failure is raised."""
        self.threads["write"].join()
        self._join_others()
        if self.errors:
            raise self.errors[0]

    def abort(self) -> None:
        """Stop every stage; the writer rolls back before this returns."""
        self.failed.set()
        if "write" in self.threads:
            self.threads["write"].join(timeout=60)
        self._join_others()

    def _join_others(self) -> None:
        for stage in ("read", "predict"):
            if stage in self.threads:
                self.threads[stage].join(timeout=30)

    def _read(self) -> None:
        dispatch = self.dispatch
        _yield_cpu()
        try:
            if dispatch.page_by:
                batches = odbc.read_pages(
                    dispatch.source_datasource,
                    dispatch.source_query,
                    dispatch.page_by,
                    page_size=dispatch.chunk_size,
                    first_page_size=FIRST_CHUNK_ROWS,
                    max_bytes_per_batch=READ_BUFFER_BYTES,
                    max_text_size=READ_MAX_TEXT_BYTES,
                    first_page_bytes=FIRST_PAGE_BUFFER_BYTES,
                )
            else:
                batches = odbc.read_batches(
                    dispatch.source_datasource,
                    dispatch.source_query,
                    batch_size=dispatch.chunk_size,
                    max_bytes_per_batch=READ_BUFFER_BYTES,
                    max_text_size=READ_MAX_TEXT_BYTES,
                    streaming=True,
                )
            chunker = _Chunker(FIRST_CHUNK_ROWS, dispatch.chunk_size)
            while True:
                started = time.perf_counter()
                batch = next(batches, None)
                if batch is not None:
                    chunker.add(batch)
                    self.progress.rows_read += batch.num_rows
                chunks = chunker.take(last=batch is None)
                self.progress.add("read", time.perf_counter() - started)
                for chunk in chunks:
                    if not self._put(self.read_queue, chunk):
                        return
                if batch is None:
                    break
            self._put(self.read_queue, _DONE)
        except odbc.OdbcError as exc:
            raise RunError(
                f"Reading the source ({dispatch.source_datasource}) failed: {exc}",
                transient=odbc.is_transient(exc),
            ) from None

    def _predict(self) -> None:
        first = True
        offset = 0
        _yield_cpu()
        try:
            while True:
                batch = self._get(self.read_queue)
                if batch is _DONE:
                    break
                if first:
                    self._check_schema(batch.schema.names)
                    expected = self._expected(batch.schema)
                    if expected is not None:
                        self._put(self.write_queue, _Expected(expected))
                    first = False
                started = time.perf_counter()
                try:
                    predictions = self.registry.predict_batch(
                        self.version,
                        batch,
                        probabilities=self.dispatch.include_probabilities,
                        hooks=self.drift.hooks,
                    )
                except SchemaError as exc:
                    raise self._bad_row(exc, offset) from None
                if self.shadow is not None:
                    self.shadow.observe(batch, predictions)
                out = self._output(batch, predictions.frame())
                self.progress.add("predict", time.perf_counter() - started)
                offset += batch.num_rows
                if not self._put(self.write_queue, out):
                    return
            self._put(self.write_queue, _DONE)
        finally:
            close_old_connections()

    def _check_schema(self, columns: list[str]) -> None:
        check = self.registry.check_schema(self.version, columns)
        if check.missing:
            raise SchemaError(
                f"The source query of dispatch {self.dispatch.name} lacks the "
                f"input column(s) {', '.join(check.missing)} that {self.version} "
                "needs (extra columns are ignored).",
                missing=list(check.missing),
            )
        missing_keys = [c for c in self.dispatch.key_columns if c not in columns]
        if missing_keys:
            raise RunError(
                f"The key column(s) {', '.join(missing_keys)} are not in the "
                "source query's result."
            )

    @staticmethod
    def _bad_row(exc: SchemaError, offset: int) -> Exception:
        # The rows stream in batches: name the source row, not the batch's.
        bad = exc.bad_value
        if bad is None:
            return exc
        kind = {"numbers": "a number", "dates": "a date"}.get(bad.expected, "valid")
        return RunError(
            f"Source row {offset + bad.row + 1}, column {bad.column}: "
            f"{bad.value!r} is not {kind}."
        )

    def _expected(self, source: pa.Schema) -> pa.Schema | None:
        """The schema _output will give, from the source's key columns and
        the version's labels; None when it cannot be told (the insert is then
        prepared from the first chunk, as it always can be): probabilities
        come as float32 or float64 depending on the model."""
        version = self.version
        if self.dispatch.include_probabilities and version.is_classification:
            return None
        # As _output builds them: the source's types, nullable, no metadata.
        fields = [
            pa.field(key, source.field(key).type) for key in self.dispatch.key_columns
        ]
        if version.is_classification:
            try:
                label = pa.array(list(version.classes)).type
            except (pa.ArrowException, TypeError, ValueError):
                return None
            if not (pa.types.is_string(label) or pa.types.is_integer(label)):
                return None
        else:
            label = pa.float64()
        fields.append(pa.field("prediction", label))
        for name, scalar in self.constants.items():
            fields.append(pa.field(name, scalar.type))
        return pa.schema(fields)

    def _output(self, batch: pa.RecordBatch, predictions: pd.DataFrame):
        columns: dict[str, pa.Array] = {}
        for key in self.dispatch.key_columns:
            columns[key] = batch.column(batch.schema.get_field_index(key))
        for name in predictions.columns:
            values = predictions[name]
            target = "prediction" if name == "prediction" else sink_column(name)
            array = pa.array(values.to_numpy(), from_pandas=True)
            if name != "prediction" and not pa.types.is_floating(array.type):
                array = array.cast(pa.float64())
            columns[target] = array
        rows = batch.num_rows
        for name, scalar in self.constants.items():
            columns[name] = pa.repeat(scalar, rows)
        return pa.RecordBatch.from_pydict(columns)

    def _write(self) -> None:
        dispatch = self.dispatch
        name, table = dispatch.sink_datasource, dispatch.sink_table
        writer = None
        schema = None
        committed = False
        try:
            # Connected (and the run's old rows deleted, in a replace mode)
            # while the first chunk is read and predicted.
            started = time.perf_counter()
            writer, exists = self._connect_sink()
            self.progress.add("write", time.perf_counter() - started)
            guessed = False  # the insert was prepared for _Expected columns
            while True:
                batch = self._get(self.write_queue)
                if batch is _DONE:
                    break
                started = time.perf_counter()
                if isinstance(batch, _Expected):
                    if exists and schema is None:
                        schema, guessed = batch.schema, True
                        self._start_insert(writer, schema)
                        self.progress.add("write", time.perf_counter() - started)
                    continue
                if guessed:
                    guessed = False
                    if batch.schema != schema:  # guessed wrong: prepare again
                        schema = None
                if schema is None:
                    schema = batch.schema
                    if not exists:
                        self._create_sink(writer, schema)
                    self._start_insert(writer, schema)
                elif batch.schema != schema:
                    batch = batch.cast(schema)
                try:
                    writer.write(batch)
                except odbc.OdbcError as exc:
                    first = self.progress.rows_written + 1
                    raise RunError(
                        f"Writing rows {first}-{first + batch.num_rows - 1} to "
                        f"{name}.{table} failed: {exc}",
                        transient=odbc.is_transient(exc),
                    ) from None
                self.progress.rows_written += batch.num_rows
                self.progress.chunks += 1
                self.progress.add("write", time.perf_counter() - started)
            if self.failed.is_set():
                return
            started = time.perf_counter()
            # An empty run commits too: into an existing table it still
            # replaces (_clear); without one its transaction is empty.
            writer.commit()
            committed = True
            self.progress.add("write", time.perf_counter() - started)
        except odbc.OdbcError as exc:
            raise RunError(
                f"Writing to {name}.{table} failed: {exc}",
                transient=odbc.is_transient(exc),
            ) from None
        finally:
            if writer is not None and not committed:
                writer.rollback()

    def _connect_sink(self) -> tuple[odbc.TransactionWriter, bool]:
        """The sink's connection and transaction, opened before the first
        chunk arrives, and whether the table exists; when it does, what the
        sink mode replaces is deleted now."""
        dispatch = self.dispatch
        writer = odbc.TransactionWriter(dispatch.sink_datasource)
        try:
            exists = writer.table_exists(dispatch.sink_table)
            if exists:
                self._clear(writer)
        except BaseException:
            writer.rollback()
            raise
        return writer, exists

    def _clear(self, writer: odbc.TransactionWriter) -> None:
        """Delete what the sink mode replaces, inside the run's transaction."""
        dispatch = self.dispatch
        sink = dispatch.sink_datasource
        target = odbc.quote(sink, dispatch.sink_table)
        if dispatch.sink_mode == SinkMode.REPLACE_RUN_KEY:
            writer.execute(
                f"DELETE FROM {target} WHERE "  # noqa: S608 - quoted identifiers
                f"{odbc.quote(sink, 'run_key')} = ?",
                [self.dispatch_run.run_key],
            )
        elif dispatch.sink_mode == SinkMode.REPLACE_ALL:
            writer.execute(f"DELETE FROM {target}")  # noqa: S608

    def _start_insert(self, writer: odbc.TransactionWriter, schema: pa.Schema) -> None:
        writer.start(
            self.dispatch.sink_table,
            schema,
            chunk_size=min(self.dispatch.chunk_size, 10_000),
        )

    def _create_sink(self, writer: odbc.TransactionWriter, schema: pa.Schema) -> None:
        """The sink table did not exist when the run started: create it (when
        the dispatch may) from the first chunk's columns."""
        dispatch = self.dispatch
        name, table = dispatch.sink_datasource, dispatch.sink_table
        if not odbc.table_exists(name, table):  # or another run created it since
            if not dispatch.create_table:
                raise RunError(
                    f"The sink table {table} does not exist in {name} and the "
                    "dispatch does not create tables."
                )
            # DDL on its own connection, outside the run's transaction: MariaDB
            # commits DDL implicitly.
            odbc.create_table(
                name,
                table,
                schema,
                types={"run_key": "VARCHAR(64)", "model_version": "VARCHAR(100)"},
                index=["run_key"],
            )
        self._clear(writer)  # rows another run wrote since, in a replace mode
