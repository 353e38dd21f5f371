"""The baseline for serving: what a user would write by hand to serve a model.

A bare WSGI app holding one loaded, persisted AutoGluon ``TabularPredictor``
that answers ``predict_proba`` for one JSON row. No authentication, no
checks, no event. bench/showroom.py serves it with gunicorn under the same
settings as the platform:

    MLF_BENCH_PREDICTOR=<predictor folder> gunicorn bench.handwritten:app ...
"""

import json
import logging
import os
import time

import pandas as pd
from autogluon.tabular import TabularPredictor

predictor = TabularPredictor.load(
    os.environ["MLF_BENCH_PREDICTOR"], verbosity=0, require_py_version_match=False
)
predictor.persist()
# gunicorn's error log, which bench/showroom.py watches for workers ready.
logging.getLogger("gunicorn.error").info("handwritten: predictor preloaded")


def app(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST":
        start_response("405 Method Not Allowed", [("Content-Length", "0")])
        return [b""]
    size = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        row = json.loads(environ["wsgi.input"].read(size))["row"]
        started = time.perf_counter()
        proba = predictor.predict_proba(pd.DataFrame([row])).iloc[0]
        latency_ms = (time.perf_counter() - started) * 1000
    except (ValueError, KeyError, TypeError) as exc:
        body = json.dumps({"error": str(exc)}).encode()
        start_response("400 Bad Request", [("Content-Type", "application/json")])
        return [body]
    probabilities = {str(k): float(v) for k, v in proba.items()}
    body = json.dumps(
        {
            "prediction": max(probabilities, key=probabilities.get),
            "probabilities": probabilities,
            "latency_ms": latency_ms,
        }
    ).encode()
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
