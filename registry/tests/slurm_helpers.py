"""Polling for the Slurm tests (jobs end in their own time)."""

import time

import pytest


def wait(condition, seconds: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"gave up waiting for {what} after {seconds} s")
