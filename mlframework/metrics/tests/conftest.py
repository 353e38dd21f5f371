"""The dispatch test world, for real runs behind the dispatch metrics."""

from dispatch.tests.conftest import (  # noqa: F401 (fixtures)
    _crontab_cleanup,
    make_dispatch,
    registered_model,
    source_table,
    tables,
)
