"""The one way to write an event: ``log_event(...)``.

It never raises into its caller. When the events database cannot be
reached the event goes to the spool file and is replayed, in order, before
the next event that is stored, or by ``manage.py events replay``.

In gunicorn's web workers (``start_writer``, from showroom/gunicorn.py) the
event is handed to one writer thread that stores the queue in batches, so
the request does not wait for the insert; everywhere else (commands, cron
runs, the task worker, tests) it is stored before ``log_event`` returns.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import threading
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections

from mlframework.events import spool
from mlframework.events.models import Event, Level
from mlframework.events.routers import EVENTS_DB
from mlframework.lib.batches import delete_in_batches
from mlframework.lib.redact import redact, redact_data

logger = logging.getLogger("mlframework.events")

# An event is a record, not a copy of its inputs: a 1 MB text sent to a model
# must not be stored (twice) in every event about it.
DATA_LIMIT = 64 * 1024  # bytes of JSON
MESSAGE_LIMIT = 2000  # characters
STRING_LIMIT = 1000  # characters of each text in a cut payload
LIST_LIMIT = 100  # items of each list (and keys of each mapping) in it
# Events waiting for the writer thread: past it log_event stores the event
# itself (the caller waits, nothing is dropped).
QUEUE_LIMIT = 10_000
BATCH_LIMIT = 500  # events per insert


def log_event(
    source: str,
    kind: str,
    message: str,
    *,
    level: str = Level.INFO,
    user: Any = None,
    model_version: Any = None,
    dispatch_run: Any = None,
    data: dict | None = None,
) -> Event | None:
    """Record an event. Returns it, or None if it could not even be built.

    ``user`` is a User (or None); ``model_version`` and ``dispatch_run`` are
    objects or ids; ``data`` is JSON-like and is stored with secrets masked.
    """
    try:
        event = Event(
            source=str(source)[:32],
            kind=str(kind)[:64],
            level=level if level in Level.values else Level.INFO,
            message=_shorten(redact(message), MESSAGE_LIMIT),
            user_id=getattr(user, "pk", None),
            username=getattr(user, "username", "") or "",
            model_version_id=_id(model_version),
            dispatch_run_id=_id(dispatch_run),
            data=cap(redact_data(data or {})),
        )
    except Exception:
        logger.exception("event %s.%s could not be built", source, kind)
        return None
    if not _writer.put(event):
        store(event)
    return event


def store(event: Event) -> bool:
    """Store an event, or spool it. True when it reached the database."""
    try:
        if spool.pending():
            spool.replay()
        event.save(using=EVENTS_DB, force_insert=True)
        return True
    except Exception as exc:
        _discard_broken_connection()
        logger.warning("events database unavailable, spooling: %s", redact(exc))
        try:
            spool.append(event)
        except Exception:
            logger.exception("event %s could not be spooled either", event.id)
        return False


def store_all(events: list[Event]) -> bool:
    """Store events in one insert, or spool them all. True when stored."""
    try:
        _recycle_connection()
        if spool.pending():
            spool.replay()
        Event.objects.using(EVENTS_DB).bulk_create(events)
        return True
    except Exception as exc:
        _discard_broken_connection()
        logger.warning("events database unavailable, spooling: %s", redact(exc))
        try:
            spool.append_all(events)
        except Exception:
            logger.exception("%d events could not be spooled either", len(events))
        return False


def start_writer() -> None:
    """From now on this process's events go through the writer thread."""
    _writer.start()


def flush(timeout: float | None = None) -> bool:
    """Wait until every event handed to the writer is stored or spooled;
    False if that took longer than `timeout` seconds."""
    return _writer.flush(timeout)


def stop_writer(timeout: float | None = None) -> bool:
    """Flush, then store events in the caller again (as before start_writer)."""
    return _writer.stop(timeout)


class _Writer:
    """One thread per process storing queued events in batches.

    Only the process that started it uses it: a forked child (whose copy has
    no thread) stores its events itself until it starts its own."""

    def __init__(self) -> None:
        self._forget()
        self._exit_registered = False

    def _forget(self) -> None:
        # Also in a forked child: its locks may have been held at the fork.
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._unfinished = 0
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def running(self) -> bool:
        return self._thread is not None and self._pid == os.getpid()

    def start(self) -> None:
        with self._lock:
            if self.running():
                return
            self._queue = queue.Queue(maxsize=QUEUE_LIMIT)
            # Daemon, so it never holds the process open; atexit flushes it
            # first (atexit runs while daemon threads still run).
            self._thread = threading.Thread(
                target=self._run, args=(self._queue,), name="events", daemon=True
            )
            self._pid = os.getpid()
            self._thread.start()
            if not self._exit_registered:
                atexit.register(self.stop, 30)
                self._exit_registered = True

    def put(self, event: Event) -> bool:
        """Queue an event; False when the caller must store it itself."""
        with self._lock:  # never into a queue that stop() has closed
            if not self.running() or not self._thread.is_alive():
                return False
            try:
                self._queue.put_nowait(event)
            except queue.Full:
                return False
            with self._idle:
                self._unfinished += 1
            return True

    def flush(self, timeout: float | None = None) -> bool:
        if self._pid != os.getpid():
            return True
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout)

    def stop(self, timeout: float | None = None) -> bool:
        """Store what is queued and end the thread; False on a timeout."""
        with self._lock:
            if not self.running():
                return True
            thread, self._thread = self._thread, None
            self._queue.put(None)  # the stop sign, after every queued event
        thread.join(timeout)
        return not thread.is_alive()

    def _done(self, count: int) -> None:
        with self._idle:
            self._unfinished -= count
            if self._unfinished == 0:
                self._idle.notify_all()

    def _run(self, waiting: queue.Queue) -> None:
        stopping = False
        while not stopping:
            batch = []
            event = waiting.get()
            while event is not None:
                batch.append(event)
                if len(batch) == BATCH_LIMIT:
                    break
                try:
                    event = waiting.get_nowait()
                except queue.Empty:
                    break
            stopping = event is None
            if not batch:
                continue
            try:
                store_all(batch)
            except Exception:  # store_all catches all; the thread must not die
                logger.exception("the event writer failed on %d events", len(batch))
            finally:
                self._done(len(batch))


_writer = _Writer()
os.register_at_fork(after_in_child=_writer._forget)


def _recycle_connection() -> None:
    # A long-lived thread has no request cycle to close a connection that is
    # past CONN_MAX_AGE or broken, as Django does for requests.
    connection = connections[EVENTS_DB]
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()


def _discard_broken_connection() -> None:
    # A failed connection must not poison the next attempt in this process.
    connection = connections[EVENTS_DB]
    if connection.in_atomic_block:
        return
    with contextlib.suppress(Exception):
        connection.close()


def _id(obj: Any) -> int | None:
    if obj is None:
        return None
    return getattr(obj, "pk", obj)


def _encoded(data: Any) -> tuple[Any, int]:
    """Data as the JSON it is stored as, and the size of that JSON."""
    try:
        text = json.dumps(data, cls=DjangoJSONEncoder)
    except (TypeError, ValueError):
        text = json.dumps({"repr": repr(data)[:STRING_LIMIT]})
    return json.loads(text), len(text)  # ASCII JSON: characters are bytes


def cap(data: Any) -> Any:
    """JSON-like data of at most DATA_LIMIT bytes: a larger payload has its
    long texts and lists cut, then its largest entries dropped, and says so
    (``_truncated``, ``_original_bytes``, ``_dropped``)."""
    data, size = _encoded(data)
    if size <= DATA_LIMIT:
        return data
    marks = {"_truncated": True, "_original_bytes": size}
    if not isinstance(data, dict):
        data = {"value": data}
    capped = {**_cut(data), **marks}
    dropped = []
    while _encoded(capped)[1] > DATA_LIMIT:
        entries = [key for key in capped if key not in marks and key != "_dropped"]
        if not entries:
            return marks
        largest = max(entries, key=lambda key: _encoded(capped[key])[1])
        del capped[largest]
        dropped.append(largest)
        capped["_dropped"] = dropped
    return capped


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [cut: {len(text)} characters]"


def _cut(value: Any) -> Any:
    if isinstance(value, str):
        return _shorten(value, STRING_LIMIT)
    if isinstance(value, list):
        items = [_cut(item) for item in value[:LIST_LIMIT]]
        if len(value) > LIST_LIMIT:
            items.append(f"… [cut: {len(value)} items]")
        return items
    if isinstance(value, dict):
        keys = list(value)
        cut = {
            _shorten(key, STRING_LIMIT): _cut(value[key]) for key in keys[:LIST_LIMIT]
        }
        if len(keys) > LIST_LIMIT:
            cut["…"] = f"[cut: {len(keys)} keys]"
        return cut
    return value


def prune_events(before, batch: int) -> int:
    """Delete the events older than `before`, `batch` rows per statement."""
    return delete_in_batches(Event.objects.filter(created__lt=before), batch)
