"""Filters for drift reports (templates/monitor/_drift_report.html)."""

from django import template

register = template.Library()


@register.filter
def share(value) -> str:
    """A share (0..1) as a percentage; blank when unknown."""
    if value is None:
        return ""
    return f"{float(value) * 100:.1f} %"


@register.filter
def figure(value) -> str:
    """A score, threshold or PSI with 4 significant digits; blank when unknown
    (a p-value of 1e-30 stays readable, unlike a fixed number of decimals)."""
    if value is None or isinstance(value, bool):
        return ""
    return f"{float(value):.4g}"
