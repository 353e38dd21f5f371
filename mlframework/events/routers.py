EVENTS_DB = "events"


class EventsRouter:
    """Send the event log to the `events` database and nothing else there."""

    def _is_event(self, model) -> bool:
        return model._meta.app_label == "events"

    def db_for_read(self, model, **hints):
        return EVENTS_DB if self._is_event(model) else None

    def db_for_write(self, model, **hints):
        return EVENTS_DB if self._is_event(model) else None

    def allow_relation(self, obj1, obj2, **hints):
        if self._is_event(obj1) or self._is_event(obj2):
            return self._is_event(obj1) and self._is_event(obj2)
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == "events":
            return db == EVENTS_DB
        return db != EVENTS_DB
