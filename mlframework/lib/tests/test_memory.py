"""The malloc settings the dispatch runner applies, checked in a child process."""

import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# As a paged read does: per page two 16-MB fetch buffers are allocated, filled
# and freed. Count the page faults over 20 pages. The pages run on one thread:
# the runner's fetch threads each start a new one, but which malloc arena a new
# thread gets depends on whether the previous thread has fully exited
# (Python's join returns a little before), so on threads the default's fault
# count varies between machines (CI saw it equal to the setting's once).
PROBE = """
import ctypes, resource, sys
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
    page()
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
    # glibc's default hands the freed buffers back to the system and faults
    # them in again on the next page (here 20 pages, ~163k faults); kept, they
    # are reused after the first page (~8k).
    one_page = 2 * 16 * 1024 * 1024 // resource.getpagesize()
    assert faults <= 1.5 * one_page, (faults, default_faults)
    assert default_faults >= 5 * one_page, (faults, default_faults)
