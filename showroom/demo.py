"""The demo's controlled cases: chosen penguins from the demo database.

Set up by ``manage.py demo_cases`` (``make setup``) before the demo model is
trained; the Showroom lists them as soon as the model is ready.
"""

from __future__ import annotations

from django.conf import settings

from mlframework.core import demo
from registry.demo import MODEL
from showroom.models import CaseSource

# Two of each species (Adelie 1-152, Gentoo 153-276, Chinstrap 277-344), one
# with every measurement missing (4), one from each island.
CASE_IDS = (1, 4, 21, 153, 220, 277, 300, 344)
QUERY = (
    "SELECT id, species, island, bill_length_mm, bill_depth_mm, "
    "flipper_length_mm, body_mass_g, sex, year FROM penguins "
    "WHERE id IN (1, 4, 21, 153, 220, 277, 300, 344) ORDER BY id"
)


def ensure_cases(model_name: str | None = None) -> CaseSource | None:
    """The demo model's case query, created once; None without the demo
    datasource. An analyst's own query for the model is left alone."""
    if demo.DATASOURCE not in settings.CONFIG.datasources:
        return None
    source, _ = CaseSource.objects.get_or_create(
        model_name=model_name or MODEL,
        defaults={
            "datasource": demo.DATASOURCE,
            "query": QUERY,
            "max_rows": len(CASE_IDS),
        },
    )
    return source
