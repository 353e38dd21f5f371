import json

from django import template

from mlframework.core import numbers

register = template.Library()


@register.filter
def score(value) -> str:
    """Scores with four significant digits in the reader's language; '—' when
    absent."""
    if value is None or value == "":
        return "—"
    return numbers.significant(value, 4)


@register.filter
def get(mapping, key):
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.filter
def differs(row) -> bool:
    """A comparison row (title, a, b) whose two values differ."""
    return row[1] != row[2]


@register.filter
def tojson(value) -> str:
    """JSON for an HTML attribute (autoescaping makes it attribute-safe)."""
    return json.dumps(value, default=str)
