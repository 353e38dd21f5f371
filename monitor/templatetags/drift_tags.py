from django import template

register = template.Library()


@register.filter
def share(value) -> str:
    """A share as a percentage with one decimal; '—' when absent."""
    if value is None or value == "":
        return "—"
    try:
        return f"{float(value) * 100:.1f} %"
    except (TypeError, ValueError):
        return str(value)
