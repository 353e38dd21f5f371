"""The one way to write an event: ``log_event(...)``.

It never raises into its caller. When the events database cannot be
reached the event goes to the spool file and is replayed, in order, before
the next event that is stored, or by ``manage.py events replay``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections

from mlframework.events import spool
from mlframework.events.models import Event, Level
from mlframework.events.routers import EVENTS_DB
from mlframework.lib.redact import redact, redact_data

logger = logging.getLogger("mlframework.events")

# An event is a record, not a copy of its inputs: a 1 MB text sent to a model
# must not be stored (twice) in every event about it.
DATA_LIMIT = 64 * 1024  # bytes of JSON
MESSAGE_LIMIT = 2000  # characters
STRING_LIMIT = 1000  # characters of each text in a cut payload
LIST_LIMIT = 100  # items of each list (and keys of each mapping) in it


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
