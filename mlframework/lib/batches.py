"""Deleting many rows without holding a table: a batch per statement."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet


def delete_in_batches(
    queryset: QuerySet, batch: int, on_batch: Callable[[list], None] | None = None
) -> int:
    """Delete what `queryset` selects, `batch` rows per statement (each its
    own transaction under autocommit); returns the rows deleted. on_batch
    gets each batch's objects first (to remove their files)."""
    total = 0
    model = queryset.model
    using = queryset.db
    while True:
        # No ORDER BY: the database takes the first rows its index on the
        # filter gives, instead of sorting every matching row per batch (the
        # events' keys are random UUIDs: sorting 1M of them per batch).
        ids = list(queryset.order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        chosen = model._default_manager.using(using).filter(pk__in=ids)
        if on_batch is not None:
            on_batch(list(chosen))
        chosen.delete()
        total += len(ids)
