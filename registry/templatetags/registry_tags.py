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


@register.filter
def interval(estimate) -> str:
    """A fairness figure with its 95 % interval: '0.758 [0.702, 0.813]'."""
    if estimate is None or estimate.value is None:
        return "—"
    if estimate.low is None or estimate.high is None:
        return score(estimate.value)
    return f"{score(estimate.value)} [{score(estimate.low)}, {score(estimate.high)}]"
