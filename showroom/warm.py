"""Make a web worker answer its first request as fast as the next.

AutoGluon loads a predictor lazily, and even a loaded, persisted predictor
pays for its first predict (lazy set-up in its feature pipeline); Django
builds its URL resolver on first use. Called from gunicorn's post_worker_init
hook (showroom/gunicorn.py), not from AppConfig.ready: management commands
and tests must not load models.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd
from django.conf import settings
from django.urls import reverse
from rest_framework.settings import api_settings

from mlframework.events.log import log_event
from mlframework.lib.redact import redact, redact_data
from registry import services
from registry.contracts import FeatureSchema
from registry.models import ModelAlias, ModelVersion

logger = logging.getLogger("mlframework.showroom")


def warm(aliases: list[str] | None = None) -> int:
    """Preload the versions behind the aliases and predict once with each;
    return how many were loaded. Never raises: a server that starts cold is
    better than one that does not start."""
    aliases = list(
        settings.CONFIG.showroom.preload_aliases if aliases is None else aliases
    )
    _warm_request_path()
    if not aliases:
        return 0
    started = time.perf_counter()
    try:
        loaded = services.preload(aliases)
    except Exception as exc:
        logger.exception("preloading %s failed", aliases)
        log_event(
            "showroom",
            "preload_failed",
            f"Preloading {', '.join(aliases)} failed: {exc}",
            level="warning",
        )
        return 0
    for version in _aliased_versions(aliases):
        try:
            services.predict_batch(
                version,
                example_frame(version.features),
                probabilities=version.is_classification,
            )
        except Exception:  # e.g. a version preload refused: already logged
            logger.info("no warm-up prediction for %s", version, exc_info=True)
    seconds = time.perf_counter() - started
    logger.info("preloaded %d version(s) in %.1f s", loaded, seconds)
    return loaded


def _warm_request_path() -> None:
    """One-time work of a first request, done before there is one: the URL
    resolver, DRF's lazily imported settings, the event log's redaction."""
    reverse("showroom:index")
    for name in (
        "DEFAULT_AUTHENTICATION_CLASSES",
        "DEFAULT_PERMISSION_CLASSES",
        "DEFAULT_RENDERER_CLASSES",
        "DEFAULT_PARSER_CLASSES",
        "DEFAULT_CONTENT_NEGOTIATION_CLASS",
        "EXCEPTION_HANDLER",
    ):
        getattr(api_settings, name)
    redact("warm")
    redact_data({"warm": 1})


def _aliased_versions(aliases: list[str]) -> list:
    return [
        alias.version
        for alias in ModelAlias.objects.filter(
            name__in=aliases, version__status=ModelVersion.Status.READY
        ).select_related("version__model")
    ]


def example_frame(features: FeatureSchema) -> pd.DataFrame:
    """One typical row: numbers at their training mean, the first category."""
    row: dict[str, Any] = {}
    for feature in features:
        kind = feature.kind
        if kind == "numeric":
            row[feature.name] = (
                feature.mean if feature.mean is not None else feature.min
            )
        elif kind in ("categorical", "boolean"):
            categories = list(feature.categories) or [None]
            row[feature.name] = categories[0]
        elif kind == "datetime":
            row[feature.name] = pd.Timestamp("2000-01-01")
        else:
            row[feature.name] = ""
    return pd.DataFrame([row], columns=[f.name for f in features])
