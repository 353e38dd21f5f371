"""The dispatch test world: a registered model, dispatch factories, cleanup of
this run's crontab lines."""

import itertools

import pytest

_names = itertools.count(1)


@pytest.fixture
def registered_model(db):
    from registry.models import RegisteredModel

    return RegisteredModel.objects.get_or_create(name="penguins")[0]


@pytest.fixture
def make_dispatch(registered_model, _crontab_cleanup):
    """Build (unsaved unless save=True) dispatches with sensible defaults."""
    from dispatch.models import Dispatch

    def make(save: bool = True, **fields) -> Dispatch:
        values = {
            "name": f"scores-{next(_names)}",
            "model": registered_model,
            "version_ref": "production",
            "source_datasource": "demo",
            "source_query": "SELECT * FROM penguins",
            "sink_datasource": "demo",
            "sink_table": "penguin_scores",
            "cron": "*/5 * * * *",
            "timezone": "UTC",
            "enabled": False,
        }
        values.update(fields)
        dispatch = Dispatch(**values)
        if save:
            dispatch.save()
        return dispatch

    return make


@pytest.fixture
def _crontab_cleanup():
    """Whatever a test installed under this run's tag is removed after it."""
    yield
    from dispatch import crontab

    with crontab._locked():
        cron = crontab._read()
        jobs = [job for found in crontab._managed_jobs(cron).values() for job in found]
        for job in jobs:
            cron.remove(job)
        if jobs:
            crontab._write(cron)
