"""Small filters for the Showroom's templates."""

import json
from urllib.parse import urlencode

from django import template

from mlframework.core import numbers

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
    return numbers.percent(value, 1)


@register.filter
def number(value) -> str:
    """Numbers shown with 4 significant digits in the reader's language;
    anything else as it is."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        if abs(value) < 1e6:
            return numbers.significant(value, 4)
        return numbers.grouped(round(value), 0)
    return str(value)


@register.filter
def as_json(value) -> str:
    """JSON for a data- attribute (the template's autoescape quotes it)."""
    return json.dumps(value)


@register.filter
def cell(value) -> str:
    """A listed case's value: 181.0 shown as 181, missing as blank."""
    return numbers.plain(value)
