"""Dispatch.enabled_at, filled for existing rows from what is known.

Before this field the Monitor read the enable events back out of the event log;
they are read here once, for the last time. When the event log cannot be read,
created is what is known (and the Monitor also counts from updated).
"""

from django.db import DatabaseError, migrations, models
from django.db.utils import ConnectionDoesNotExist


def _enabled_events(apps) -> dict[int, object]:
    Event = apps.get_model("events", "Event")
    found: dict[int, object] = {}
    try:
        events = (
            Event.objects.using("events")
            .filter(source="dispatch", kind__in=["enabled", "resumed_all"])
            .order_by("-created")
            .values_list("data", "created")
        )
        for data, created in events.iterator():
            data = data or {}
            for pk in data.get("dispatches") or [data.get("dispatch")]:
                if isinstance(pk, int) and pk not in found:
                    found[pk] = created
    except (DatabaseError, ConnectionDoesNotExist):
        return {}
    return found


def fill_enabled_at(apps, schema_editor):
    Dispatch = apps.get_model("dispatch", "Dispatch")
    db = schema_editor.connection.alias
    dispatches = list(Dispatch.objects.using(db).filter(enabled=True))
    if not dispatches:
        return
    enabled = _enabled_events(apps)
    for dispatch in dispatches:
        dispatch.enabled_at = max(
            filter(None, [dispatch.created, enabled.get(dispatch.pk)])
        )
    Dispatch.objects.using(db).bulk_update(dispatches, ["enabled_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("dispatch", "0003_page_by"),
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="dispatch",
            name="enabled_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(fill_enabled_at, migrations.RunPython.noop),
    ]
