"""Storing a request's row after its answer has gone out.

The middleware leaves the row with its thread; Django's request_finished
signal, sent when the server closes the response (after the client has it),
stores it with one INSERT. A failure is logged, never raised.
"""

from __future__ import annotations

import logging
import threading

from django.core.signals import request_finished
from django.db import DatabaseError
from django.dispatch import receiver

from mlframework.usage.models import ApiRequest

logger = logging.getLogger("mlframework.usage")

_pending = threading.local()  # gunicorn's threads each answer one request


def after_response(row: ApiRequest) -> None:
    earlier = getattr(_pending, "row", None)
    _pending.row = row
    if earlier is not None:  # its response was never closed: store it now
        save(earlier)


@receiver(request_finished, dispatch_uid="usage.store_pending")
def store_pending(sender=None, **kwargs) -> None:
    row = getattr(_pending, "row", None)
    if row is None:
        return
    _pending.row = None
    save(row)


def save(row: ApiRequest) -> bool:
    try:
        row.save(force_insert=True)
        return True
    except DatabaseError as exc:
        logger.warning("API request not recorded: %s", exc)
        return False
