"""Numbers as the reader's language writes them (pt-BR 1.234,56; en 1,234.56).

Pages format numbers here or with Django's l10n filters, never with an
f-string, so that the decimal mark and the grouping follow the language.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import formats


def grouped(value, decimals: int | None = None) -> str:
    """A number with the language's thousands separator and decimal mark."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    try:
        number = value if isinstance(value, int | Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if isinstance(number, Decimal) and not number.is_finite():
        return str(value)
    if decimals is not None:  # number_format cuts the digits off; round them
        number = Decimal(number).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
    return formats.number_format(number, decimal_pos=decimals, force_grouping=True)


def significant(value, digits: int = 4) -> str:
    """A number rounded to that many significant digits, in the language."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return str(number)
    text = f"{number:.{digits}g}"
    if "e" in text:  # too small or too large for plain digits: keep 1.234e+07
        return scientific(number, digits - 1)
    return grouped(Decimal(text))


def scientific(value, decimals: int = 1) -> str:
    """1.5e-07 with the language's decimal mark."""
    try:
        text = f"{float(value):.{decimals}e}"
    except (TypeError, ValueError):
        return str(value)
    return text.replace(".", formats.get_format("DECIMAL_SEPARATOR"))


def percent(share, decimals: int = 1) -> str:
    """0.125 as 12.5% (en) or 12,5% (pt-BR)."""
    if share is None:
        return ""
    return grouped(round(float(share) * 100, decimals), decimals) + "%"


def plain(value) -> str:
    """A data value: 181.0 as 181, 47.5 as 47,5 in pt-BR; no grouping."""
    if isinstance(value, float) and math.isfinite(value):
        if value.is_integer():
            return str(int(value))
        return formats.number_format(Decimal(f"{value:g}"))
    return "" if value is None else str(value)
