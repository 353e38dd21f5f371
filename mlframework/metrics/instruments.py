"""The metrics the web processes count themselves.

gunicorn runs several worker processes, each with its own memory: these use
prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set in
settings.py), so a scrape of any worker adds up every worker's counts.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Seconds; a Showroom prediction takes milliseconds, a training upload seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUEST_SECONDS = Histogram(
    "mlframework_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL name, method and status class.",
    ["endpoint", "method", "status"],
    buckets=LATENCY_BUCKETS,
)

PREDICTED_ROWS = Counter(
    "mlframework_predictions",
    "Rows predicted in the Showroom and through the API, per model version.",
    ["model", "version", "origin"],
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"  # bounded label values
    REQUEST_SECONDS.labels(endpoint, method, f"{status // 100}xx").observe(seconds)


def count_predictions(model: str, version: int, origin: str, rows: int) -> None:
    PREDICTED_ROWS.labels(model, str(version), origin).inc(rows)
