"""The demo: Palmer penguins (CC0) in a SQLite database reached over ODBC.

The data ships in demo/penguins.csv (see demo/LICENSE.md). Loading goes through
the SQLite3 ODBC driver, the same path dispatches use, so a working demo
proves the ODBC stack too.
"""

from pathlib import Path

import pandas as pd
import pyarrow as pa
from django.conf import settings

from mlframework.lib import odbc

DATASOURCE = "demo"
TABLE = "penguins"
CSV = Path(settings.BASE_DIR) / "demo" / "penguins.csv"

_CREATE = """CREATE TABLE penguins (
    id INTEGER PRIMARY KEY,
    species VARCHAR(16) NOT NULL,
    island VARCHAR(16) NOT NULL,
    bill_length_mm DOUBLE,
    bill_depth_mm DOUBLE,
    flipper_length_mm INTEGER,
    body_mass_g INTEGER,
    sex VARCHAR(8),
    year INTEGER NOT NULL
)"""


def read_csv() -> pd.DataFrame:
    frame = pd.read_csv(CSV, na_values=["NA"], keep_default_na=False)
    frame.insert(0, "id", range(1, len(frame) + 1))
    for column in ("flipper_length_mm", "body_mass_g", "year"):
        frame[column] = frame[column].astype("Int64")
    return frame


def load(force: bool = False) -> int:
    """Create and fill the penguins table; return rows loaded (0 if present)."""
    if DATASOURCE not in settings.CONFIG.datasources:
        raise odbc.OdbcError(DATASOURCE, "is not configured in config.yaml")
    path = odbc.sqlite_database_path(DATASOURCE)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if _row_count() is not None:
        if not force:
            return 0
        odbc.execute(DATASOURCE, f"DROP TABLE {TABLE}")
    odbc.execute(DATASOURCE, _CREATE)
    frame = read_csv()
    odbc.write_table(
        DATASOURCE, TABLE, pa.Table.from_pandas(frame, preserve_index=False)
    )
    return len(frame)


def _row_count() -> int | None:
    result = odbc.probe(DATASOURCE, f"SELECT COUNT(*) FROM {TABLE}")  # noqa: S608
    return result.value if result.ok else None
