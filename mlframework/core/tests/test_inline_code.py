"""No inline code in the templates: the Content-Security-Policy refuses it
(mlframework/tests/test_csp.py sees it in Chromium; this sees it in seconds)."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.views.defaults import server_error

TEMPLATES = Path(settings.BASE_DIR) / "templates"
INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)"),
    "style element": re.compile(r"<style\b"),
    "style attribute": re.compile(r"\sstyle="),
    "event handler": re.compile(r"\son[a-z]+="),
    "htmx handler (eval)": re.compile(r"\shx-on"),
    # An event filter, "every 1s [due()]"; "from:[name=cron]" is a selector.
    "htmx filter (eval)": re.compile(r"hx-trigger=\"[^\"]*(?<!:)\["),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


@pytest.mark.parametrize(
    "template",
    sorted(TEMPLATES.rglob("*.html")),
    ids=lambda p: str(p.relative_to(TEMPLATES)),
)
def test_a_template_holds_no_inline_code(template):
    text = template.read_text()
    found = [name for name, pattern in INLINE.items() if pattern.search(text)]
    assert not found, f"{template.relative_to(TEMPLATES)}: {', '.join(found)}"


def test_the_checks_find_inline_code():
    sample = (
        '<script>x()</script><style></style><p style="a" onclick="b()" '
        'hx-on:click="c" hx-trigger="every 1s [d()]"><a href="javascript:e()">'
    )
    assert all(pattern.search(sample) for pattern in INLINE.values())
    assert not INLINE["inline script"].search('<script src="/static/a.js"></script>')


def test_the_server_error_page_takes_its_style_from_a_static_file():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert 'href="/static/mlframework/error.css"' in response.content.decode()
    assert settings.STATIC_URL == "/static/"
    assert (Path(settings.BASE_DIR) / "static/mlframework/error.css").is_file()
