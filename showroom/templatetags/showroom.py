"""Small filters for the Showroom's templates."""

import json
from urllib.parse import urlencode

from django import template

register = template.Library()


@register.filter
def querystring(row: dict) -> str:
    """A listed case as a query string (for the edit-in-form link)."""
    return urlencode({k: "" if v is None else v for k, v in row.items()})


@register.filter
def get(mapping: dict, key):
    return (mapping or {}).get(key)


@register.filter
def percent(value) -> str:
    if value is None:
        return ""
    return f"{float(value) * 100:.1f}%"


@register.filter
def number(value) -> str:
    """Numbers shown with 4 significant digits; anything else as it is."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


@register.filter
def as_json(value) -> str:
    """JSON for a data- attribute (the template's autoescape quotes it)."""
    return json.dumps(value)


@register.filter
def cell(value) -> str:
    """A listed case's value: 181.0 shown as 181, missing as blank."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return str(value)
