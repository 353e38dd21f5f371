"""What of the English catalogue is left on a page rendered in pt-BR.

For each template the page was rendered from, the catalogue's msgids that
come from it (#: references) and whose translation differs are cut at their
placeholders; a piece of three or more letters found as whole words in the
page's text or in a label attribute is English left over.
"""

from __future__ import annotations

import html
import re
from functools import cache

from django.conf import settings

from mlframework.core.tests.test_translations import CATALOGUE, entries

_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sdr]|%%|%s|<[^>]+>")
_SKIP = re.compile(
    r"<script\b.*?</script>|<style\b.*?</style>|<pre\b.*?</pre>"
    # Stored event messages are shown as written, in the language of the day.
    r"|<td class=\"message-cell\">.*?</td>|<span class=\"event-message\">.*?</span>",
    re.S,
)
_LABELS = re.compile(
    r'\b(?:title|aria-label|placeholder|data-confirm|data-label[\w-]*)="([^"]*)"'
)


@cache
def _pieces_by_template() -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for entry in entries(settings.BASE_DIR / CATALOGUE):
        if entry.translations and entry.translations[0] == entry.msgid:
            continue  # the same in both languages ("Showroom", "Hash")
        pieces = {
            piece.strip(" .,:;()·\u2013-")
            for piece in _PLACEHOLDER.split(entry.msgid)
            if len(re.findall(r"[A-Za-z]", piece)) >= 3
        }
        # Code and names the translation keeps (<code>/api/…</code>) are not English.
        pieces = {p for p in pieces if p and p not in " ".join(entry.translations)}
        for where in entry.where:
            path = where.split(":")[0]
            found.setdefault(path, set()).update(pieces)
    return {path: frozenset(pieces) for path, pieces in found.items()}


def visible_text(page: str) -> str:
    page = _SKIP.sub(" ", page)
    labels = " | ".join(_LABELS.findall(page))
    text = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(f"{text} | {labels}")


def english_left(response, *, data: tuple[str, ...] = ()) -> list[str]:
    """English pieces of the response's templates still on the page.

    `data` are strings the page shows as stored or as a library wrote them
    (model names, AutoGluon's reasons): removed before looking.
    """
    text = visible_text(response.content.decode())
    for value in data:
        text = text.replace(value, " ")
    templates = {
        f"templates/{t.name}"
        for t in response.templates
        if t.name and not t.name.startswith(("admin/", "django/"))
    }
    left = set()
    for template in templates:
        for piece in _pieces_by_template().get(template, ()):
            if re.search(rf"(?<![\w]){re.escape(piece)}(?![\w])", text):
                left.add(f"{template}: {piece!r}")
    return sorted(left)


def templates_of(response) -> set[str]:
    return {t.name for t in response.templates if t.name}
