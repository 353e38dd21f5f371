"""Keyset pagination for the event log: no COUNT(*), no OFFSET.

Each page costs one indexed query however many events there are.
"""

from dataclasses import dataclass

from django.db.models import Q

from mlframework.events.models import Event
from mlframework.events.routers import EVENTS_DB


@dataclass
class EventPage:
    events: list
    next_marker: str | None


def page(queryset, before: tuple | None, size: int) -> EventPage:
    queryset = queryset.using(EVENTS_DB).order_by("-created", "-id")
    if before:
        created, event_id = before
        # `created <= marker` on its own keeps the index range scan; the OR
        # only breaks ties between events of the same instant.
        queryset = queryset.filter(
            Q(created__lte=created) & (Q(created__lt=created) | Q(id__lt=event_id))
        )
    events = list(queryset[: size + 1])
    marker = None
    if len(events) > size:
        events = events[:size]
        last = events[-1]
        marker = f"{last.created.isoformat()}_{last.id}"
    return EventPage(events, marker)


def recent(size: int = 10, **filters) -> list:
    return list(Event.objects.using(EVENTS_DB).filter(**filters)[:size])
