from dataclasses import replace

import pytest


@pytest.fixture(autouse=True)
def _own_store(settings, tmp_path):
    """Each test gets empty dataset and model folders (files are not rolled back
    with the database)."""
    paths = replace(
        settings.CONFIG.paths,
        datasets=str(tmp_path / "datasets"),
        models=str(tmp_path / "models"),
    )
    settings.CONFIG = replace(settings.CONFIG, paths=paths)


# The retraining tests' world (registry/tests/retrain_world.py).
from registry.tests.retrain_world import (  # noqa: E402, F401 (fixtures)
    make_policy,
    query_champion,
    retrain_source,
    retrain_tables,
)

# isort: split
# The realised-performance world, for the shadow's realised metrics.
from monitor.tests.realised_world import (  # noqa: E402, F401 (fixtures)
    _realised_crontab_cleanup,
    actuals_in,
    dispatch_into,
    realised_tables,
    run_dispatch,
)
