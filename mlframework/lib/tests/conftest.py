"""The adapters' tests: each ODBC engine in turn."""

import pytest

from conftest import ODBC_DATASOURCES, require_datasource


@pytest.fixture(params=ODBC_DATASOURCES)
def source(request):
    """Each real ODBC driver in turn: SQLite3, MariaDB, PostgreSQL."""
    require_datasource(request.param)
    return request.param
