"""Is a page wholly translated? The English texts of its templates' msgids
that the English page shows must all be gone from the Portuguese page.

The msgids come from the pt_BR catalogue (its ``#:`` references name the
templates); a msgid is split at its placeholders and tags into fragments, and
fragments that read the same in both languages ("PSI", "Cron") are left out.
Page text is what a reader sees of the page itself (the <title> and <main>;
the menu around it is the base template's): text outside scripts and styles,
and the title, placeholder, aria-label and data-confirm/data-label-* attributes.
Elements marked ``translate="no"`` (rows read from a sink, user data) are
skipped, as a translation tool would.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from django.conf import settings

CATALOGUE = settings.BASE_DIR / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"
SPLIT = re.compile(r"%\(\w+\)[sdr]|%[sdr]|%%|<[^>]*>")
WORDS = re.compile(r"[A-Za-z]{3,}")
SHOWN_ATTRIBUTES = {"title", "placeholder", "aria-label", "data-confirm"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}  # fmt: skip


@dataclass
class Entry:
    msgid: str = ""
    plural: str = ""
    msgstrs: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


def entries() -> list[Entry]:
    """The catalogue's entries (a small reader: the lines makemessages writes)."""
    found, current, key = [], Entry(), None
    for line in [*CATALOGUE.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if current.msgid:
                found.append(current)
            current, key = Entry(), None
        elif line.startswith("#:"):
            current.references += [ref.rsplit(":", 1)[0] for ref in line[2:].split()]
        elif line.startswith("#"):
            continue
        elif line.startswith("msgid_plural "):
            key, current.plural = "plural", ast.literal_eval(line[13:])
        elif line.startswith("msgid "):
            key, current.msgid = "msgid", ast.literal_eval(line[6:])
        elif line.startswith("msgstr"):
            key = "msgstr"
            current.msgstrs.append(ast.literal_eval(line.split(" ", 1)[1]))
        elif line.startswith('"') and key:
            text = ast.literal_eval(line)
            if key == "msgstr":
                current.msgstrs[-1] += text
            elif key == "plural":
                current.plural += text
            else:
                current.msgid += text
    return found


def fragments(*templates: str) -> set[str]:
    """The English pieces of the msgids of these templates ("dispatch/run.html")."""
    wanted = {f"templates/{name}" for name in templates}
    pieces = set()
    for entry in entries():
        if not wanted.intersection(entry.references):
            continue
        translated = " ".join(entry.msgstrs)
        for text in (entry.msgid, entry.plural):
            for piece in SPLIT.split(text):
                piece = " ".join(piece.split()).strip(" .,:;()·")
                if WORDS.search(piece) and piece not in translated:
                    pieces.add(piece)
    return pieces


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, hidden from readers)
        self.whole_page = False

    @property
    def hidden(self) -> bool:
        inside = any(tag in ("main", "title") for tag, _hidden in self.stack)
        # A partial (an htmx answer) has no <main>: all of it is the page's.
        return (self.whole_page and not inside) or any(h for _t, h in self.stack)

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        hidden = tag in ("script", "style") or attributes.get("translate") == "no"
        if not self.hidden and not hidden:
            for name, value in attributes.items():
                if value and (
                    name in SHOWN_ATTRIBUTES or name.startswith("data-label")
                ):
                    self.parts.append(value)
        if tag not in VOID:
            self.stack.append((tag, hidden))

    def handle_endtag(self, tag) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data) -> None:
        if not self.hidden:
            self.parts.append(data)


def visible_text(html: str | bytes) -> str:
    if isinstance(html, bytes):
        html = html.decode()
    parser = _Text()
    parser.whole_page = "<main" in html
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def contains(text: str, piece: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(piece)}(?!\w)", text) is not None


@dataclass
class Comparison:
    shown: list[str]  # the English pieces the English page shows
    left: list[str]  # those still on the Portuguese page


def compare(
    english_html: str, portuguese_html: str, *templates: str, stored: tuple = ()
) -> Comparison:
    """``stored``: texts shown as written (event messages), taken out first."""
    english, portuguese = visible_text(english_html), visible_text(portuguese_html)
    for text in stored:
        portuguese = portuguese.replace(" ".join(str(text).split()), " ")
    shown = sorted(p for p in fragments(*templates) if contains(english, p))
    return Comparison(shown, [p for p in shown if contains(portuguese, p)])
