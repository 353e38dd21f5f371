"""Column types of uploaded files: detected from the text people export, applied
when the file is read, and the same number and date rules for typed input.

Understood: numbers with a decimal comma and thousands dot (``1.234,56``) or a
decimal point and thousands comma (``1,234.56``), currency prefixes (``R$``,
``$``, ``€``, ``US$``), percentages (``12,5%`` is 0.125); ISO dates
(``2023-02-05``), day-first and month-first dates (``05/02/2023``), each with an
optional time; booleans (``Sim``/``Não``, ``S``/``N``, ``true``/``false``,
``yes``/``no``); missing markers (``""``, ``NA``, ``N/A``, ``-``, ``null``).

A column whose every value fits both conventions (``1.234``) takes the one
the rest of the file uses; Excel cells that are numbers or dates already are
taken as they are.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pandas.api.types import infer_dtype

from registry.errors import DatasetError

# A column is of a type when at least this share of its values fits it.
THRESHOLD = 0.9
EXAMPLES = 5
MAX_CATEGORIES = 50

NUMBER, DATE, BOOLEAN, CATEGORY, TEXT, IGNORE = (
    "number",
    "date",
    "boolean",
    "category",
    "text",
    "ignore",
)
TYPES = {
    NUMBER: gettext_lazy("number"),
    DATE: gettext_lazy("date"),
    BOOLEAN: gettext_lazy("boolean"),
    CATEGORY: gettext_lazy("category"),
    TEXT: gettext_lazy("text"),
    IGNORE: gettext_lazy("ignore"),
}
COMMA, POINT = "comma", "point"  # the decimal separator of a number
DAY_FIRST, MONTH_FIRST, ISO = "day_first", "month_first", "iso"
CONVENTIONS = {
    NUMBER: {
        COMMA: gettext_lazy("decimal comma, thousands dot"),
        POINT: gettext_lazy("decimal point, thousands comma"),
    },
    DATE: {
        DAY_FIRST: gettext_lazy("day-first date"),
        MONTH_FIRST: gettext_lazy("month-first date"),
        ISO: gettext_lazy("ISO date"),
    },
}
# The number convention and date order a country's files use together.
_DATE_OF = {COMMA: DAY_FIRST, POINT: MONTH_FIRST}
_NUMBER_OF = {DAY_FIRST: COMMA, MONTH_FIRST: POINT}

MISSING = frozenset(
    {"", "na", "n/a", "n/d", "#n/a", "#n/d", "-", "--", "null", "nan", "none", "<na>"}
)
BOOLEANS = (  # (true spellings, false spellings), lower-case
    ({"sim", "s"}, {"não", "nao", "n"}),
    ({"true", "t"}, {"false", "f"}),
    ({"yes", "y"}, {"no", "n"}),
    ({"verdadeiro", "v"}, {"falso", "f"}),
)
_TRUE = set().union(*(pair[0] for pair in BOOLEANS))
_FALSE = set().union(*(pair[1] for pair in BOOLEANS))

_CURRENCY = re.compile(r"^(?:R\$|US\$|\$|€|£)\s*")
_COMMA_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?$")
_POINT_NUMBER = re.compile(
    r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?$|^[+-]?\.\d+$"
)
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)
_SLASHED_DATE = re.compile(
    r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$"
)
_DATE_FORMATS = {
    DAY_FIRST: ("%d/%m/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S"),
    MONTH_FIRST: ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"),
}


@dataclass(frozen=True)
class ColumnType:
    """How one column is read: its type, the convention and the rule shown."""

    name: str
    type: str  # one of TYPES
    convention: str = ""  # COMMA/POINT for numbers, DAY_FIRST/MONTH_FIRST/ISO
    percent: bool = False  # values written as 12,5% (read as 0.125)
    bad: int = 0  # values in the profiled rows that did not fit the type
    examples: tuple[str, ...] = ()  # the first of those
    # Every value fitted both conventions: the file's convention was taken.
    ambiguous: bool = False
    by: str = "detected"  # "detected", "file" (typed cells), or "user"
    native: bool = False  # Parquet/Excel cells that had the type already

    @property
    def rule(self) -> str:
        """The rule in words, e.g. "decimal comma, thousands dot"."""
        if self.native:
            return _("typed cells of the file")
        text = str(CONVENTIONS.get(self.type, {}).get(self.convention, ""))
        if self.type == NUMBER and not self.convention:
            text = _("whole numbers")
        if self.percent:
            text = _("%(rule)s, percentages") % {"rule": text}
        if self.type == BOOLEAN:
            text = _("yes/no words (Sim/Não, S/N, true/false, yes/no)")
        if self.type in (CATEGORY, TEXT, IGNORE):
            text = ""
        if self.by == "user":
            text = (
                _("%(rule)s (set by hand)") % {"rule": text}
                if text
                else _("set by hand")
            )
        return text

    @property
    def label(self) -> str:
        return str(TYPES.get(self.type, self.type))

    def to_json(self) -> dict:
        data = {"name": self.name, "type": self.type}
        for key in ("convention", "percent", "bad", "ambiguous", "native"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.examples:
            data["examples"] = list(self.examples)
        if self.by != "detected":
            data["by"] = self.by
        return data

    @classmethod
    def from_json(cls, data: dict) -> ColumnType:
        return cls(
            name=str(data["name"]),
            type=str(data.get("type", TEXT)),
            convention=str(data.get("convention", "")),
            percent=bool(data.get("percent", False)),
            bad=int(data.get("bad", 0)),
            examples=tuple(str(e) for e in data.get("examples") or ()),
            ambiguous=bool(data.get("ambiguous", False)),
            by=str(data.get("by", "detected")),
            native=bool(data.get("native", False)),
        )


@dataclass(frozen=True)
class Detection:
    """The column types of a file and, for ambiguous columns, the convention
    the file gave them."""

    columns: tuple[ColumnType, ...]
    file_number: str = ""  # COMMA, POINT, or "" when nothing in the file says
    file_date: str = ""

    def get(self, name: str) -> ColumnType | None:
        return next((c for c in self.columns if c.name == name), None)


# --- Single values ----------------------------------------------------------


def is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    if value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, str) and value.strip().lower() in MISSING


def _number_text(text: str) -> tuple[str, bool]:
    """The text without currency, spaces and percent sign; and whether it had
    the percent sign."""
    text = _CURRENCY.sub("", text.strip()).replace("\u00a0", "").replace(" ", "")
    percent = text.endswith("%")
    return (text[:-1] if percent else text), percent


def fits(text: str, convention: str) -> bool:
    """Whether a number written as `text` fits the convention."""
    body, _percent = _number_text(text)
    pattern = _COMMA_NUMBER if convention == COMMA else _POINT_NUMBER
    return bool(pattern.match(body))


def parse_number(text: str, convention: str) -> float:
    """A number written in the convention; ValueError if it does not fit."""
    body, percent = _number_text(str(text))
    if convention == COMMA:
        if not _COMMA_NUMBER.match(body):
            raise ValueError(text)
        body = body.replace(".", "").replace(",", ".")
    else:
        if not _POINT_NUMBER.match(body):
            raise ValueError(text)
        body = body.replace(",", "")
    number = float(body)
    return number / 100 if percent else number


def convention_of_language(language: str | None) -> str:
    """The number convention of a request's language (pt-BR: decimal comma)."""
    return COMMA if (language or "").lower().startswith("pt") else POINT


def parse_date(text: str, order: str) -> pd.Timestamp:
    """A date (and time) written as ISO or in `order`; ValueError otherwise."""
    text = str(text).strip()
    if _ISO_DATE.match(text):
        return pd.Timestamp(text)
    found = _SLASHED_DATE.match(text)
    if found is None:
        raise ValueError(text)
    normal = re.sub(r"^(\d{1,2})[/.-](\d{1,2})[/.-]", r"\1/\2/", text).replace("T", " ")
    for form in _DATE_FORMATS[MONTH_FIRST if order == MONTH_FIRST else DAY_FIRST]:
        try:
            return pd.Timestamp(dt.datetime.strptime(normal, form))
        except ValueError:
            continue
    raise ValueError(text)


# --- Detection --------------------------------------------------------------


# Arrow strings: pandas' .str methods on them run in Arrow's C++ kernels.
TEXT_DTYPE = "string[pyarrow]"


def _texts(column: pd.Series) -> tuple[pd.Series, list]:
    """(the non-missing text values, stripped; the non-missing typed values)."""
    if _all_text(column):
        stripped = column.astype(TEXT_DTYPE).str.strip()
        missing = stripped.isna() | stripped.str.lower().isin(MISSING).fillna(True)
        return stripped[~missing.to_numpy(dtype=bool)].reset_index(drop=True), []
    texts, natives = [], []
    for value in column.tolist():
        if is_missing(value):
            continue
        if isinstance(value, str):
            texts.append(value.strip())
        else:
            natives.append(value)
    return pd.Series(texts, dtype=TEXT_DTYPE), natives


def _is_number(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _is_date(value) -> bool:
    return isinstance(value, dt.date | np.datetime64)


def _detect_boolean(name, texts, natives) -> ColumnType | None:
    if natives and not all(isinstance(v, bool | np.bool_) for v in natives):
        return None
    if texts.nunique() > 8:  # a yes/no column has a few spellings, not many
        return None
    lowered = set(texts.str.lower().unique()) if len(texts) else set()
    if not lowered and not natives:
        return None
    for true, false in BOOLEANS:
        if lowered <= true | false and (lowered & true or lowered & false):
            if len(lowered) == 1 and len(texts) < 2:
                return None
            return ColumnType(name, BOOLEAN)
    if not len(texts) and natives:
        return ColumnType(name, BOOLEAN, native=True)
    return None


def _bodies(texts: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """_number_text on every value: (bodies, had a percent sign)."""
    body = texts.str.replace(_CURRENCY.pattern, "", regex=True)
    body = body.str.replace("[\\s\u00a0]", "", regex=True)
    percent = body.str.endswith("%").fillna(False).to_numpy(dtype=bool)
    return body.str.removesuffix("%"), percent


def _matches(texts: pd.Series, pattern: re.Pattern) -> np.ndarray:
    return texts.str.fullmatch(pattern.pattern).to_numpy(dtype=bool)


def _with_bad(column: ColumnType, texts: pd.Series, ok: np.ndarray) -> ColumnType:
    bad = texts[~ok]
    return replace(column, bad=len(bad), examples=tuple(map(str, bad.head(EXAMPLES))))


def _detect_number(name, texts, natives) -> ColumnType | None:
    typed = sum(1 for v in natives if _is_number(v))
    total = len(texts) + len(natives)
    series = texts
    body, percent = _bodies(series)
    comma, point = _matches(body, _COMMA_NUMBER), _matches(body, _POINT_NUMBER)
    best = max(comma.sum(), point.sum()) + typed
    if total == 0 or best < THRESHOLD * total:
        return None
    # Values read alike both ways (123) do not decide; 1.234 fits both, unlike.
    plain = body.str.lstrip("+-").str.isdigit().to_numpy(dtype=bool)
    differ = bool((comma & point & ~plain).any())
    if comma.sum() > point.sum():
        convention, ambiguous, ok = COMMA, False, comma
    elif point.sum() > comma.sum():
        convention, ambiguous, ok = POINT, False, point
    else:
        convention, ambiguous, ok = (POINT if differ else ""), differ, point
    found = ColumnType(
        name,
        NUMBER,
        convention,
        percent=bool(len(texts)) and bool(percent.sum() >= THRESHOLD * len(texts)),
        ambiguous=ambiguous,
        native=not len(texts),
    )
    return _with_bad(found, series, ok)


def _date_order(texts: pd.Series) -> tuple[str, bool]:
    """(order, ambiguous) of slashed dates: day-first unless only month-first
    fits (a second part above 12); both fitting is ambiguous."""
    parts = texts.str.extract(_SLASHED_DATE.pattern)[[0, 1]].astype(int)
    first, second = parts[0], parts[1]
    day_first = bool(((first <= 31) & (second <= 12)).all())
    month_first = bool(((first <= 12) & (second <= 31)).all())
    if day_first and not month_first:
        return DAY_FIRST, False
    if month_first and not day_first:
        return MONTH_FIRST, False
    return DAY_FIRST, day_first and month_first


def _detect_date(name, texts, natives) -> ColumnType | None:
    typed = sum(1 for v in natives if _is_date(v))
    total = len(texts) + len(natives)
    series = texts
    iso, slashed = _matches(series, _ISO_DATE), _matches(series, _SLASHED_DATE)
    if total == 0 or iso.sum() + slashed.sum() + typed < THRESHOLD * total:
        return None
    order, ambiguous = _date_order(series[slashed]) if slashed.any() else (ISO, False)
    ok = _dates(series, order).notna().to_numpy()
    if ok.sum() + typed < THRESHOLD * total:
        return None
    found = ColumnType(name, DATE, order, ambiguous=ambiguous, native=not len(texts))
    return _with_bad(found, series, ok)


def _detect_words(name, texts, natives) -> ColumnType:
    values = pd.concat([texts, pd.Series([str(v) for v in natives], dtype=TEXT_DTYPE)])
    distinct = values.nunique()
    many = distinct > MAX_CATEGORIES and distinct > 0.5 * len(values)
    if many and values.str.len().mean() > 20:
        return ColumnType(name, TEXT)
    return ColumnType(name, CATEGORY)


def detect_column(name: str, column: pd.Series) -> ColumnType:
    """The type of one column of text (or of Excel cells) by the values."""
    if not _object(column):
        return _typed(name, column)
    texts, natives = _texts(column)
    if not len(texts) and not natives:
        return ColumnType(name, CATEGORY)
    return (
        _detect_boolean(name, texts, natives)
        or _detect_number(name, texts, natives)
        or _detect_date(name, texts, natives)
        or _detect_words(name, texts, natives)
    )


def _object(column: pd.Series) -> bool:
    return column.dtype == object or pd.api.types.is_string_dtype(column.dtype)


def _typed(name: str, column: pd.Series) -> ColumnType:
    """A column the file stored typed (Parquet): its type, as it is."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return ColumnType(name, BOOLEAN, native=True)
    if pd.api.types.is_numeric_dtype(dtype):
        return ColumnType(name, NUMBER, native=True)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return ColumnType(name, DATE, native=True)
    return ColumnType(name, CATEGORY, native=True)


def detect(frame: pd.DataFrame, *, hint: str = "") -> Detection:
    """Every column's type; ambiguous ones take the convention the file's
    other columns use (`hint`, e.g. a ``;`` delimiter or the uploader's
    language, when none does)."""
    columns = [detect_column(str(name), frame[name]) for name in frame.columns]
    numbers = {c.convention for c in columns if c.type == NUMBER and not c.ambiguous}
    dates = {c.convention for c in columns if c.type == DATE and not c.ambiguous}
    numbers &= {COMMA, POINT}
    dates &= {DAY_FIRST, MONTH_FIRST}
    file_number = next(iter(numbers)) if len(numbers) == 1 else ""
    file_date = next(iter(dates)) if len(dates) == 1 else ""
    number = file_number or _NUMBER_OF.get(file_date, "") or hint or POINT
    date = file_date or _DATE_OF.get(file_number, "") or _DATE_OF.get(hint, DAY_FIRST)
    resolved = []
    for column in columns:
        if column.ambiguous and column.type == NUMBER:
            column = replace(column, convention=number)
        elif column.ambiguous and column.type == DATE:
            column = replace(column, convention=date)
        resolved.append(column)
    return Detection(tuple(resolved), file_number, file_date)


def recount(column: ColumnType, values: pd.Series) -> ColumnType:
    """The column's type with `bad` and `examples` counted again on `values`
    (after the user chose the type)."""
    if column.type not in (NUMBER, DATE) or not _object(values):
        return replace(column, bad=0, examples=())
    texts, _natives = _texts(values)
    if column.type == NUMBER:
        ok = ~np.isnan(_text_numbers(texts, column.convention or POINT))
    else:
        ok = _dates(texts, column.convention).notna().to_numpy()
    return _with_bad(column, texts, ok)


# --- Applying ---------------------------------------------------------------


def apply(
    frame: pd.DataFrame, columns: Iterable[ColumnType], *, keep_misfits: bool = False
) -> pd.DataFrame:
    """The frame with each column in its type (ignored ones dropped); values
    that do not fit become missing (the page counted them), or with
    `keep_misfits` stay as their text, for a check that names them."""
    types = {c.name: c for c in columns}
    converted = {}
    for name in frame.columns:
        column_type = types.get(str(name))
        if column_type is None:
            converted[name] = frame[name]
            continue
        if column_type.type == IGNORE:
            continue
        column = convert(frame[name], column_type)
        if keep_misfits and column_type.type in (NUMBER, DATE, BOOLEAN):
            column = _with_misfits(column, frame[name])
        converted[name] = column
    return pd.DataFrame(converted, index=frame.index)


def _with_misfits(converted: pd.Series, original: pd.Series) -> pd.Series:
    misfits = converted.isna().to_numpy() & ~_missing_mask(original)
    if not misfits.any():
        return converted
    mixed = converted.astype(object)
    mixed[misfits] = original[misfits].astype(object)
    return mixed


def convert(column: pd.Series, column_type: ColumnType) -> pd.Series:
    kind = column_type.type
    if not _object(column) and _native_fits(column, kind):
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            return _naive(column)
        return column
    if kind == NUMBER:
        return _numbers(column, column_type.convention or POINT)
    if kind == DATE:
        return _dates(column, column_type.convention)
    if kind == BOOLEAN:
        return _booleans(column)
    return _words(column)


def _native_fits(column: pd.Series, kind: str) -> bool:
    dtype = column.dtype
    return (
        (kind == NUMBER and pd.api.types.is_numeric_dtype(dtype))
        or (kind == DATE and pd.api.types.is_datetime64_any_dtype(dtype))
        or (kind == BOOLEAN and pd.api.types.is_bool_dtype(dtype))
    )


def _all_text(column: pd.Series) -> bool:
    """Every value is text (CSV cells): the vectorised path applies."""
    return infer_dtype(column, skipna=True) in ("string", "empty")


def _missing_mask(column: pd.Series) -> np.ndarray:
    if _all_text(column):
        lowered = column.str.strip().str.lower()
        return (lowered.isin(MISSING) | column.isna()).to_numpy()
    return np.fromiter(
        (is_missing(v) for v in column.tolist()), dtype=bool, count=len(column)
    )


def _numbers(column: pd.Series, convention: str) -> pd.Series:
    if _all_text(column):
        numbers = _text_numbers(column, convention)
    else:  # Excel cells: numbers as they are, text by the rules
        values = []
        for value in column.tolist():
            if _is_number(value):
                values.append(float(value))
            elif isinstance(value, str) and not is_missing(value):
                try:
                    values.append(parse_number(value, convention))
                except ValueError:
                    values.append(np.nan)
            else:
                values.append(np.nan)
        numbers = np.asarray(values, dtype="float64")
    # Whole numbers with none missing stay integers, as pandas reads them.
    if len(numbers) and not np.isnan(numbers).any():
        whole = np.all(numbers == np.round(numbers)) and np.all(np.abs(numbers) < 2**53)
        if whole:
            return pd.Series(numbers.astype("int64"), index=column.index)
    return pd.Series(numbers, index=column.index)


def _text_numbers(column: pd.Series, convention: str) -> np.ndarray:
    """parse_number on every value at once (NaN where it does not fit)."""
    # Arrow's kernels end to end: pandas' to_numeric parses text in Python.
    body = pc.utf8_trim_whitespace(pa.array(column.astype(TEXT_DTYPE)))
    body = pc.replace_substring_regex(body, _CURRENCY.pattern, "")
    body = pc.replace_substring_regex(body, "[\\s\u00a0]", "")
    percent = pc.fill_null(pc.ends_with(body, "%"), False)
    body = pc.replace_substring_regex(body, "%$", "")
    pattern = _COMMA_NUMBER if convention == COMMA else _POINT_NUMBER
    fitting = pc.fill_null(pc.match_substring_regex(body, pattern.pattern), False)
    if convention == COMMA:
        body = pc.replace_substring(pc.replace_substring(body, ".", ""), ",", ".")
    else:
        body = pc.replace_substring(body, ",", "")
    numbers = pc.cast(pc.if_else(fitting, body, None), pa.float64())
    values = numbers.to_numpy(zero_copy_only=False).astype("float64")
    return np.where(percent.to_numpy(zero_copy_only=False), values / 100, values)


def _dates(column: pd.Series, order: str) -> pd.Series:
    if not _all_text(column):  # Excel cells: dates as they are, text by the rules
        values = []
        for value in column.tolist():
            if isinstance(value, dt.date | np.datetime64):
                values.append(pd.Timestamp(value))
            elif isinstance(value, str) and not is_missing(value):
                try:
                    values.append(parse_date(value, order))
                except ValueError:
                    values.append(pd.NaT)
            else:
                values.append(pd.NaT)
        return _naive(pd.Series(pd.to_datetime(values, utc=True), index=column.index))
    text = column.str.strip()
    result = pd.Series(pd.NaT, index=column.index, dtype="datetime64[ns]")
    iso = text.str.fullmatch(_ISO_DATE.pattern).fillna(False).to_numpy(dtype=bool)
    if iso.any():
        parsed = pd.to_datetime(text[iso], format="ISO8601", errors="coerce", utc=True)
        result[iso] = _naive(parsed)
    slashed = text.str.fullmatch(_SLASHED_DATE.pattern).fillna(False).to_numpy(bool)
    if slashed.any():
        normal = text[slashed].str.replace(
            r"^(\d{1,2})[/.-](\d{1,2})[/.-]", r"\1/\2/", regex=True
        )
        normal = normal.str.replace("T", " ", regex=False)
        formats = _DATE_FORMATS[MONTH_FIRST if order == MONTH_FIRST else DAY_FIRST]
        for form in formats:
            left = result[slashed].isna().to_numpy()
            if not left.any():
                break
            parsed = pd.to_datetime(normal[left], format=form, errors="coerce")
            result.loc[normal.index[left]] = parsed
    return result


def _naive(column: pd.Series) -> pd.Series:
    """Datetimes as naive UTC in nanoseconds: one type for training and input."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        column = column.dt.tz_convert("UTC").dt.tz_localize(None)
    return column.astype("datetime64[ns]")


_BOOLEAN_OF = {**dict.fromkeys(_FALSE, False), **dict.fromkeys(_TRUE, True)}


def _boolean_of(value) -> bool | None:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str):
        return _BOOLEAN_OF.get(value.strip().lower())
    if _is_number(value) and value in (0, 1):  # BIT and 0/1 columns
        return bool(value)
    return None


def to_booleans(column: pd.Series) -> pd.Series:
    """True/False from any spelling BOOLEANS knows (and 0/1); NaN otherwise."""
    return _booleans(column)


def _booleans(column: pd.Series) -> pd.Series:
    if _all_text(column):
        mapped = column.str.strip().str.lower().map(_BOOLEAN_OF)
    else:
        mapped = column.map(_boolean_of)
    if mapped.notna().all():
        return mapped.astype(bool)
    # With gaps: objects (True, False, NaN), the way AutoGluon takes them.
    return mapped.astype(object).where(mapped.notna(), np.nan)


def _words(column: pd.Series) -> pd.Series:
    missing = _missing_mask(column)
    text = column.astype(object).where(~missing, np.nan)
    if _all_text(column):
        return text.astype(object)
    return text.map(lambda v: v if isinstance(v, str) or pd.isna(v) else str(v))


# --- The user's corrections -------------------------------------------------


def corrected(
    detected: Iterable[ColumnType], corrections: dict
) -> tuple[ColumnType, ...]:
    """The detected types with the user's corrections ({name: {"type":
    ..., "convention": ...}}) in their place."""
    result = []
    for column in detected:
        change = corrections.get(column.name)
        if change:
            column = replace(
                column,
                type=change["type"],
                convention=change.get("convention", ""),
                percent=bool(change.get("percent", column.percent)),
                ambiguous=False,
                by="user",
                native=False,
            )
        result.append(column)
    return tuple(result)


def check_correction(name: str, kind: str, convention: str) -> None:
    """DatasetError naming the column when a type or convention is unknown."""
    if kind not in TYPES:
        raise DatasetError(
            _("Column %(name)s: unknown type %(type)r.") % {"name": name, "type": kind}
        )
    allowed = CONVENTIONS.get(kind, {})
    if allowed and convention not in allowed:
        raise DatasetError(
            _("Column %(name)s: choose how the %(type)s is written.")
            % {"name": name, "type": TYPES[kind]}
        )
