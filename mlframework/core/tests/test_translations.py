"""CI keeps the pt_BR translation complete.

makemessages runs on a copy of the tree (so the committed catalogue is never
rewritten by a test) and every string it finds must have a translation that
is not fuzzy; msgfmt must count 100 % translated and 0 fuzzy. A failure names
each msgid and where it comes from: translate it in
locale/pt_BR/LC_MESSAGES/django.po (README, "Languages").
"""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

CATALOGUE = Path("locale") / "pt_BR" / "LC_MESSAGES" / "django.po"
# What makemessages must not walk (the make target passes the same --ignore).
IGNORED = (".venv", "var", "bench", ".git", "__pycache__", "*.mo", "node_modules")


@dataclass
class Entry:
    msgid: str
    translations: list[str]
    fuzzy: bool
    where: list[str]

    @property
    def translated(self) -> bool:
        return bool(self.translations) and all(self.translations)


def _unquote(text: str) -> str:
    body = text.strip()[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), body)


def entries(path: Path) -> list[Entry]:
    """The catalogue's live entries (no header, no obsolete #~ ones)."""
    found = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        key, flags, where = None, [], []
        for line in block.splitlines():
            if line.startswith("#,"):
                flags += [flag.strip() for flag in line[2:].split(",")]
            elif line.startswith("#:"):
                where += line[2:].split()
            elif line.startswith("#"):
                continue
            elif line.startswith('"') and key:
                fields[key] += _unquote(line)
            elif " " in line:
                key, value = line.split(" ", 1)
                fields[key] = _unquote(value)
        if "msgid" not in fields or not fields["msgid"]:
            continue  # the header, or an obsolete entry
        translations = [v for k, v in sorted(fields.items()) if k.startswith("msgstr")]
        found.append(Entry(fields["msgid"], translations, "fuzzy" in flags, where))
    return found


def problems(path: Path) -> list[str]:
    return [
        f"{'fuzzy' if e.fuzzy else 'untranslated'}: {e.msgid!r} ({', '.join(e.where)})"
        for e in entries(path)
        if e.fuzzy or not e.translated
    ]


def msgfmt_statistics(path: Path) -> str:
    done = subprocess.run(
        ["msgfmt", "--statistics", "--check", "-o", os.devnull, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """The catalogue as makemessages leaves it for the sources as they are."""
    tree = tmp_path_factory.mktemp("tree") / "src"
    shutil.copytree(
        settings.BASE_DIR,
        tree,
        ignore=shutil.ignore_patterns(*IGNORED),
        symlinks=True,
    )
    here = Path.cwd()
    os.chdir(tree)
    try:
        with override_settings(LOCALE_PATHS=[tree / "locale"]):
            call_command(
                "makemessages",
                locale=["pt_BR"],
                ignore_patterns=list(IGNORED),
                verbosity=0,
            )
    finally:
        os.chdir(here)
    return tree / CATALOGUE


def test_every_string_in_the_sources_is_translated(regenerated):
    left = problems(regenerated)
    assert not left, "Translate in locale/pt_BR/LC_MESSAGES/django.po:\n" + "\n".join(
        left
    )


def test_the_committed_catalogue_has_nothing_untranslated_or_fuzzy():
    left = problems(settings.BASE_DIR / CATALOGUE)
    assert not left, "\n".join(left)


def test_msgfmt_counts_everything_translated_and_nothing_fuzzy(regenerated):
    for path in (settings.BASE_DIR / CATALOGUE, regenerated):
        line = msgfmt_statistics(path)
        assert re.fullmatch(r"\d+ translated messages\.", line), line


def test_makemessages_finds_the_strings_of_every_part(regenerated):
    """The copy is complete: strings of templates, Python and each app."""
    where = {w.split(":")[0] for e in entries(regenerated) for w in e.where}
    for expected in (
        "templates/base.html",
        "templates/registry/version.html",
        "templates/showroom/model.html",
        "registry/forms.py",
        "showroom/forms.py",
        "mlframework/core/models.py",
    ):
        assert expected in where


# The checker itself, on catalogues written here.

HEADER = (
    'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n'
    '"Plural-Forms: nplurals=2; plural=(n > 1);\\n"\n\n'
)


def test_the_check_names_an_untranslated_string(tmp_path):
    path = tmp_path / "django.po"
    path.write_text(
        HEADER + '#: registry/forms.py:3\nmsgid "Model name"\nmsgstr ""\n',
        encoding="utf-8",
    )
    assert problems(path) == ["untranslated: 'Model name' (registry/forms.py:3)"]


def test_the_check_names_a_changed_string_left_fuzzy(tmp_path):
    path = tmp_path / "django.po"
    path.write_text(
        HEADER + "#: a.py:1\n#, fuzzy, python-format\n"
        '#| msgid "Old %(x)s"\nmsgid "New %(x)s"\nmsgstr "Velho %(x)s"\n',
        encoding="utf-8",
    )
    assert problems(path) == ["fuzzy: 'New %(x)s' (a.py:1)"]


def test_the_check_needs_every_plural_form(tmp_path):
    path = tmp_path / "django.po"
    path.write_text(
        HEADER + 'msgid "%(n)s row"\nmsgid_plural "%(n)s rows"\n'
        'msgstr[0] "%(n)s linha"\nmsgstr[1] ""\n\n'
        '#~ msgid "gone"\n#~ msgstr ""\n',
        encoding="utf-8",
    )
    # msgfmt counts a half-translated plural as translated; the check does not.
    assert msgfmt_statistics(path) == "1 translated message."
    assert problems(path) == ["untranslated: '%(n)s row' ()"]
