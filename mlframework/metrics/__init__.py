"""Prometheus metrics at /metrics: what the web processes count (requests and
latency per endpoint, predictions per model version) and what the database
holds at scrape time (dispatch runs, training jobs, alerts, task workers)."""
