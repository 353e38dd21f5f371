"""Load the aliased versions before the first request arrives.

AutoGluon loads a predictor lazily and a first predict pays for reading the
model files; a persisted predictor in the registry's cache answers the first
request as fast as the next. Called from gunicorn's post_worker_init hook
(showroom/gunicorn.py), not from AppConfig.ready: management commands and
tests must not load models.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from mlframework.events.log import log_event

logger = logging.getLogger("mlframework.showroom")


def warm(aliases: list[str] | None = None) -> int:
    """Preload the versions behind the configured aliases; never raises."""
    from registry import services

    aliases = list(
        settings.CONFIG.showroom.preload_aliases if aliases is None else aliases
    )
    if not aliases:
        return 0
    started = time.perf_counter()
    try:
        loaded = services.preload(aliases)
    except Exception as exc:  # a server that starts cold beats one that won't start
        logger.exception("preloading %s failed", aliases)
        log_event(
            "showroom",
            "preload_failed",
            f"Preloading {', '.join(aliases)} failed: {exc}",
            level="warning",
        )
        return 0
    seconds = time.perf_counter() - started
    logger.info("preloaded %d version(s) in %.1f s", loaded, seconds)
    return loaded
