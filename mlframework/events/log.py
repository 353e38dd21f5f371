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
            message=redact(message),
            user_id=getattr(user, "pk", None),
            username=getattr(user, "username", "") or "",
            model_version_id=_id(model_version),
            dispatch_run_id=_id(dispatch_run),
            data=_jsonable(redact_data(data or {})),
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


def _jsonable(data: Any) -> Any:
    try:
        return json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    except (TypeError, ValueError):
        return {"repr": repr(data)[:2000]}
