"""The /metrics body: every process's counts plus the database's state."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

from mlframework.metrics.collector import DatabaseCollector


class _ThisProcess(Collector):
    def collect(self):
        return REGISTRY.collect()


def render() -> tuple[bytes, str]:
    """The text format and its content type."""
    # A registry per scrape, as prometheus-client's multiprocess docs do: it
    # reads every process's files afresh, and concurrent scrapes share nothing.
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())  # one process: its own counts
    registry.register(DatabaseCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
