"""The malloc settings the dispatch runner applies, checked in a child process."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# As a paged read does: per page a new fetch thread allocates two 16-MB buffers,
# fills them and frees them. Count the page faults over 20 pages.
PROBE = """
import ctypes, resource, sys, threading
from mlframework.lib import memory
took = memory.keep_freed_buffers() if sys.argv[1] == "on" else None
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
size = 16 * 1024 * 1024

def page():
    blocks = [libc.malloc(size) for _ in range(2)]
    for block in blocks:
        ctypes.memset(block, 1, size)
    for block in blocks:
        libc.free(ctypes.c_void_p(block))

before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    thread = threading.Thread(target=page)
    thread.start()
    thread.join()
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    took, faults = done.stdout.split()
    return took, int(faults)


def test_freed_buffers_are_reused_instead_of_faulted_in_again():
    took, faults = _faults("on")
    assert took == "True"
    _, default_faults = _faults("off")
    # glibc's default hands part of the freed buffers back to the system and
    # faults them in again on the next page; kept, they are reused.
    assert faults <= 0.75 * default_faults, (faults, default_faults)
