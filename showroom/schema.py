"""Check and convert cases against a model version's input schema.

The same rules serve the API, the generated form and the listed cases, so a
value the API refuses is refused by the form with the same sentence. A
feature that is absent is an error naming it; a value of the wrong type is an
error naming the feature and the type it needs; a category the model never
saw in training is not an error (the model still answers) but is flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from registry import parsing
from registry.contracts import Feature, FeatureSchema

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


@dataclass
class CheckedRows:
    """The outcome of checking rows: a frame ready to predict, or errors."""

    frame: pd.DataFrame | None
    # "rows[2].island" -> ["is missing"], in the order the features are listed.
    errors: dict[str, list[str]] = field(default_factory=dict)
    # Per row: feature -> the unseen category / the out-of-range number.
    unseen: list[dict[str, Any]] = field(default_factory=list)
    out_of_range: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    # The converted values, row by row (what the frame holds, as plain values).
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class ValueProblem(ValueError):
    """One value that cannot be used for one feature; str() is the sentence."""


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def convert(feature: Feature, value: Any) -> Any:
    """One value converted for one feature; ValueProblem says why not.

    Missing values (None, blank, NaN) become None: AutoGluon fills them the
    way it learned to in training.
    """
    if is_missing(value):
        return None
    kind = feature.kind
    if kind == "numeric":
        return _number(value)
    if kind == "boolean":
        return _boolean(feature, value)
    if kind == "categorical":
        return _category(feature, value)
    if kind == "datetime":
        return _datetime(value)
    if isinstance(value, (dict, list)):
        raise ValueProblem(_("expected text, got %(value)s") % _got(_type_name(value)))
    return str(value)


def _got(shown: str) -> dict:
    return {"value": shown}


def _number(value: Any) -> float:
    if isinstance(value, (bool, dict, list)):
        raise ValueProblem(
            _("expected a number, got %(value)s") % _got(_type_name(value))
        )
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        number = _written_number(str(value))
    if math.isinf(number) or math.isnan(number):
        raise ValueProblem(
            _("expected a finite number, got %(value)s") % _got(_shown(value))
        )
    return number


def _written_number(text: str) -> float:
    """A number as the request's language writes it (pt-BR ``1.234,5``, en
    ``1,234.5``, registry.parsing's rules), or plainly (``1234.5``, ``1e3``)."""
    convention = parsing.convention_of_language(get_language())
    try:
        return parsing.parse_number(text, convention)
    except ValueError:
        pass
    try:
        return float(text.strip())
    except ValueError:
        raise ValueProblem(
            _("expected a number, got %(value)s") % _got(_shown(text))
        ) from None


def _boolean(feature: Feature, value: Any) -> Any:
    categories = list(feature.categories)
    match = _match_category(categories, value)
    if match is not _NO_MATCH:
        return match
    text = str(value).strip().lower()
    if isinstance(value, (bool, int, float, str)) and text in _TRUE | _FALSE:
        truth = text in _TRUE
        # Give the model the spelling it was trained on (True, "yes", 1, ...).
        for category in categories:
            if str(category).strip().lower() in (_TRUE if truth else _FALSE):
                return category
        return truth
    raise ValueProblem(_("expected true or false, got %(value)s") % _got(_shown(value)))


_NO_MATCH = object()


def _match_category(categories: list, value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return _NO_MATCH
    text = str(value).strip()
    for category in categories:
        if category == value or str(category) == text:
            return category
    return _NO_MATCH


def _category(feature: Feature, value: Any) -> Any:
    if isinstance(value, (dict, list)):
        raise ValueProblem(
            _("expected a category, got %(value)s") % _got(_type_name(value))
        )
    match = _match_category(list(feature.categories), value)
    if match is not _NO_MATCH:
        return match
    # Unseen in training: passed on as text (the model treats it as unknown).
    return value if isinstance(value, (int, float)) else str(value).strip()


def _datetime(value: Any) -> pd.Timestamp:
    if isinstance(value, (bool, dict, list)):
        raise ValueProblem(
            _("expected a date and time, got %(value)s") % _got(_type_name(value))
        )
    if isinstance(value, str):
        # Day-first in pt-BR (05/02/2023 is 5 February), month-first in en.
        order = (
            parsing.DAY_FIRST
            if parsing.convention_of_language(get_language()) == parsing.COMMA
            else parsing.MONTH_FIRST
        )
        try:
            return parsing.parse_date(value, order)
        except ValueError:
            pass
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueProblem(
            _("expected a date and time such as 2024-05-31T14:00, got %(value)s")
            % _got(_shown(value))
        ) from None


def is_unseen(feature: Feature, value: Any) -> bool:
    """A category the model never saw in training (flagged, not refused)."""
    if value is None or feature.kind not in ("categorical", "boolean"):
        return False
    categories = feature.categories
    if not categories:  # the registry kept no list: nothing to compare with
        return False
    return _match_category(categories, value) is _NO_MATCH


def is_out_of_range(feature: Feature, value: Any) -> bool:
    if value is None or feature.kind != "numeric":
        return False
    low, high = feature.min, feature.max
    return (low is not None and value < low) or (high is not None and value > high)


def check_rows(
    features: FeatureSchema, rows: list, *, prefix: str = "rows"
) -> CheckedRows:
    """Check rows (dicts of feature name -> value) against the features.

    Error keys name the row and the feature: ``rows[2].island`` (or
    ``row.island`` with prefix "row" for a single case).
    """
    names = [f.name for f in features]
    errors: dict[str, list[str]] = {}
    unseen: list[dict] = []
    out_of_range: list[dict] = []
    ignored: set[str] = set()
    converted: list[dict] = []
    for index, row in enumerate(rows):
        where = prefix if prefix == "row" else f"{prefix}[{index}]"
        if not isinstance(row, dict):
            errors[where] = [
                _("must be an object of feature values, got %(value)s")
                % _got(_type_name(row))
            ]
            continue
        values: dict[str, Any] = {}
        flagged: dict[str, Any] = {}
        outside: dict[str, Any] = {}
        for feature in features:
            name = feature.name
            if name not in row:
                errors[f"{where}.{name}"] = [_("is missing")]
                continue
            try:
                value = convert(feature, row[name])
            except ValueProblem as problem:
                errors[f"{where}.{name}"] = [str(problem)]
                continue
            values[name] = value
            if is_unseen(feature, value):
                flagged[name] = value
            if is_out_of_range(feature, value):
                outside[name] = value
        ignored.update(key for key in row if key not in names)
        converted.append(values)
        unseen.append(flagged)
        out_of_range.append(outside)
    if errors:
        return CheckedRows(None, errors, unseen, out_of_range, sorted(ignored))
    return CheckedRows(
        to_frame(features, converted),
        {},
        unseen,
        out_of_range,
        sorted(ignored),
        converted,
    )


def to_frame(features: FeatureSchema, rows: list[dict]) -> pd.DataFrame:
    """Converted rows as one frame, columns in training order.

    Built in one go (a one-row request is latency-bound); the registry gives
    each column its trained type when it predicts.
    """
    return pd.DataFrame.from_records(rows, columns=[f.name for f in features])


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
