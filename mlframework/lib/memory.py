"""glibc malloc settings for processes that stream data in large buffers.

Reading a source in pages (odbc.read_pages) opens a reader per page, and each
reader allocates its fetch buffers afresh: 16 MB, twice with the concurrent
fetch. glibc serves blocks that large with mmap and gives them back with
munmap, so every page faults its buffers in again from zeroed memory. With
blocks up to 32 MB taken from the heap and up to 64 MB of freed heap kept, the
buffers are reused (the figures: bench/RESULTS.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024


@functools.cache
def keep_freed_buffers() -> bool:
    """Reuse freed buffers of up to 32 MB instead of returning them to the
    system; True when glibc took the settings (False elsewhere, harmless).
    Once per process: finding libc costs a few milliseconds (ldconfig)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
