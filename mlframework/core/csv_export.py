"""CSV downloads in the reader's dialect: what their spreadsheet opens.

pt-BR spreadsheets split on ";" and read "1234,5" as a number (the comma is
their decimal mark); English ones split on "," and read "1234.5". Dates and
times are written as the pages show them. No thousands separators: a
spreadsheet would read them as text.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils import formats, timezone, translation

from mlframework.core import http


@dataclass(frozen=True)
class Dialect:
    language: str
    delimiter: str
    decimal: str
    # Excel reads a UTF-8 file without a byte-order mark as the Windows code
    # page (accents garbled) in a Brazilian installation.
    bom: bool


DIALECTS = {
    "en": Dialect("en", delimiter=",", decimal=".", bom=False),
    "pt-br": Dialect("pt-br", delimiter=";", decimal=",", bom=True),
}


def dialect(language: str | None = None) -> Dialect:
    """The dialect of a language (default: the request's active one)."""
    code = (language or translation.get_language() or "en").lower()
    return DIALECTS.get(code, DIALECTS["en"])


def cell(value, dialect: Dialect) -> str:
    """One value as text in the dialect; None is an empty cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value).replace(".", dialect.decimal)
    if isinstance(value, Decimal):
        return str(value).replace(".", dialect.decimal)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return _moment(value, dialect.language)
    return str(value)


def rows(lines: Iterable[Sequence], dialect: Dialect) -> Iterator[str]:
    """The CSV text of each row (header included), in the dialect."""

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo(), delimiter=dialect.delimiter)
    if dialect.bom:
        yield "\ufeff"
    for line in lines:
        yield writer.writerow([cell(value, dialect) for value in line])


def response(lines: Iterable[Sequence], filename: str) -> StreamingHttpResponse:
    """A streamed CSV download in the request's language's dialect."""
    # Chosen now: the rows are written after the view has returned.
    answer = StreamingHttpResponse(rows(lines, dialect()), content_type="text/csv")
    answer["Content-Disposition"] = http.attachment(filename)
    return answer


def _moment(value, language: str) -> str:
    if language == "en":
        return str(value)  # ISO, as the English downloads always were
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)  # as the pages show it
    with translation.override(language):
        if isinstance(value, dt.datetime):
            return formats.date_format(value, "DATETIME_FORMAT")
        if isinstance(value, dt.date):
            return formats.date_format(value, "SHORT_DATE_FORMAT")
        return formats.time_format(value, "TIME_FORMAT")
