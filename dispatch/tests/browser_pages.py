"""Helpers for the pt-BR browser tests: the two widths, contexts in a
language, screenshots, and what overflows a phone's viewport."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import browser_login

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
WIDTHS = {"laptop": LAPTOP, "phone": PHONE}
LOCALES = {"en": "en-US", "pt-br": "pt-BR"}

# Elements whose right edge passes the viewport, unless a scrolling (or
# clipping) box holds them: a wide table inside .table-wrap scrolls itself.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const held = (element) => {
    let up = element.parentElement;
    for (; up && up !== document.body; up = up.parentElement) {
      const overflow = getComputedStyle(up).overflowX;
      if (["auto", "scroll", "hidden"].includes(overflow)) return true;
    }
    return false;
  };
  const found = [];
  for (const element of document.body.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 1 || held(element)) continue;
    const name = element.tagName.toLowerCase() + (element.id ? "#" + element.id : "")
      + (element.className && typeof element.className === "string"
         ? "." + element.className.trim().split(/\\s+/).join(".") : "");
    found.push(name + " (right " + Math.round(box.right) + " > " + width + ")");
  }
  if (document.documentElement.scrollWidth > width + 1) {
    found.push("the page scrolls sideways: " + document.documentElement.scrollWidth);
  }
  return found;
}"""


def context(browser, language: str, width: str):
    """A browsing context that asks for `language` (Accept-Language) at `width`."""
    return browser.new_context(viewport=WIDTHS[width], locale=LOCALES[language])


def logged_in(browser, live_server, username: str, language: str, width: str):
    page = context(browser, language, width).new_page()
    browser_login(page, live_server, username)
    return page


def shoot(page, folder: Path, name: str) -> None:
    """A full-page screenshot in the test's folder, and in $MLF_SCREENSHOTS."""
    folders = [folder]
    if os.environ.get("MLF_SCREENSHOTS"):
        folders.append(Path(os.environ["MLF_SCREENSHOTS"]))
    for where in folders:
        where.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(where / f"{name}.png"), full_page=True)


def overflowing(page) -> list[str]:
    return page.evaluate(OVERFLOWING)


def lang(page) -> str:
    return page.evaluate("() => document.documentElement.lang")
