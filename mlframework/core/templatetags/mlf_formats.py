"""{% load mlf_formats %}: numbers in the reader's language (core.numbers)."""

from django import template

from mlframework.core import numbers

register = template.Library()


@register.filter
def grouped(value, decimals=None) -> str:
    """1234567 as 1,234,567 (en) or 1.234.567 (pt-BR)."""
    return numbers.grouped(value, None if decimals is None else int(decimals))


@register.filter
def significant(value, digits=4) -> str:
    return numbers.significant(value, int(digits))


@register.filter
def scientific(value, decimals=1) -> str:
    return numbers.scientific(value, int(decimals))
