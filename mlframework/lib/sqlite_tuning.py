"""Process-wide SQLite settings, applied before SQLite starts.

SQLite keeps memory statistics by default (SQLITE_CONFIG_MEMSTATUS): every
allocation and free takes one process-wide mutex. One thread reading through
the SQLite3 ODBC driver while another writes (a dispatch's reader and writer)
then fight over that mutex on every row: measured on 1M rows, the two ran
2.7x and 1.8x slower than alone and burnt 2.4x the CPU, although they use
separate connections and even separate files. SQLite itself recommends
turning the statistics off (https://sqlite.org/compile.html#default_memstatus);
nothing here reads them (sqlite3_memory_used, the soft heap limit).

The switch only takes effect before the library initialises, i.e. before the
first `import sqlite3` or ODBC connection, so the package's __init__ applies it.
The platform's own databases, Python's sqlite3 and the SQLite3 ODBC driver
share the one libsqlite3.so.0 of the system, so one call covers all three.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger("mlframework.sqlite")

SQLITE_OK = 0
SQLITE_MISUSE = 21  # sqlite3_config after sqlite3_initialize
SQLITE_CONFIG_MEMSTATUS = 9

_state: dict[str, object] = {}


def _library() -> ctypes.CDLL | None:
    for name in ("libsqlite3.so.0", ctypes.util.find_library("sqlite3")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def disable_memory_statistics() -> str:
    """Turn SQLite's memory statistics off for this process.

    Returns "off" (done now or before), "too late" (SQLite was already
    initialised in this process: the statistics stay on, everything still
    works) or "no library" (no libsqlite3 to configure). Never raises.
    """
    if "result" in _state:
        return _state["result"]  # type: ignore[return-value]
    library = _library()
    if library is None:
        result = "no library"
    else:
        code = library.sqlite3_config(SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0))
        result = "off" if code == SQLITE_OK else "too late"
        if code not in (SQLITE_OK, SQLITE_MISUSE):
            logger.warning("sqlite3_config(MEMSTATUS, 0) answered %s", code)
    _state["result"] = result
    return result


def memory_used() -> int:
    """SQLite's own count of the bytes it holds (0 when statistics are off)."""
    library = _library()
    if library is None:
        return 0
    library.sqlite3_memory_used.restype = ctypes.c_int64
    return int(library.sqlite3_memory_used())
