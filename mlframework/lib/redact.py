"""Keep secrets out of pages, logs and events.

Masks the values of ``key=value`` and ``key: value`` pairs whose key *is* a
secret's name (PWD, Password, api_key, db_password, accessToken...; not
passenger_count or token_count), parsed by ODBC's rules: ``;`` ends a value,
``{...}`` braces one (``}}`` is a ``}`` inside). Also URLs' passwords
(user:pass@host) and the literal secret values configured in config.yaml.
"""

import logging
import re
from functools import lru_cache
from typing import Any

from django.conf import settings

MASK = "********"
# A key names a secret when it is one of these, or ends with one as its last
# words (db_password, x-api-key, accessToken).
SECRET_NAMES = frozenset(
    {
        "pwd",
        "password",
        "pass",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "api_key",
        "apikey",
        "auth",
        "authorization",
        "auth_token",
        "access_token",
        "refresh_token",
        "client_secret",
        "secret_key",
        "private_key",
        "credentials",
    }
)
# A key starts after anything a key cannot hold, so a long run of key
# characters is scanned once (linear time on a 1 MB input).
_KEY = re.compile(r"""(?<![\w.\-])(["']?)([A-Za-z_\-][\w.\-]*)\1[ \t]*([=:])""")
_STEMS = re.compile(r"(?i)pw|pass|secret|token|key|auth|cred")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# A scheme only where a run of its characters starts, and "/" (never plain in
# a URL's userinfo) ends a password: linear on a 1 MB input, where the old
# ``\b...*`` pattern took minutes (test_a_megabyte_is_masked_in_linear_time).
_URL_CREDENTIALS = re.compile(
    r"(?i)((?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^:/@\s]+:)([^@\s/]+)(@)"
)


def is_secret_name(key: Any) -> bool:
    """True for a key that names a secret (exactly, or as its last words)."""
    key = str(key)
    # Most keys hold no secret's stem: answered without the parse below.
    return bool(_STEMS.search(key)) and _names_a_secret(key)


@lru_cache(maxsize=4096)
def _names_a_secret(key: str) -> bool:
    words = _CAMEL.sub("_", key).strip().strip("-_").lower()
    words = re.sub(r"[\s.\-]+", "_", words)
    return any(words == name or words.endswith("_" + name) for name in SECRET_NAMES)


def _braced_end(text: str, start: int) -> int:
    """End of the ``{...}`` value at text[start] (``}}`` is an escaped ``}``);
    an unclosed brace runs to the end."""
    position = start + 1
    while True:
        close = text.find("}", position)
        if close < 0:
            return len(text)
        if text.startswith("}}", close):
            position = close + 2
            continue
        return close + 1


def _quoted_end(text: str, start: int) -> int:
    """End of the quoted value at text[start] (backslash escapes)."""
    quote, position = text[start], start + 1
    while position < len(text):
        char = text[position]
        if char == "\\":
            position += 2
            continue
        if char == quote:
            return position + 1
        position += 1
    return len(text)


def _until(text: str, start: int, stops: str) -> int:
    ends = [i for i in (text.find(stop, start) for stop in stops) if i >= 0]
    return min(ends, default=len(text))


def _value_span(text: str, start: int, sign: str) -> tuple[int, int]:
    """Where the value that starts at text[start] begins and ends."""
    if sign == ":":  # YAML, JSON, headers: a space may come first
        while start < len(text) and text[start] in " \t":
            start += 1
    if text.startswith("{", start):
        return start, _braced_end(text, start)
    if text[start : start + 1] in ("'", '"'):
        end = _quoted_end(text, start)
        if sign == ":":
            return start, end
        if text[end - 1] != text[start] or end - start < 2:
            # An unclosed quote is part of an ODBC value, not a quoting.
            return start, _until(text, start, ";")
        # ODBC knows no quotes: an ``=`` value still runs to the next ``;``.
        return start, _until(text, end, ";")
    return start, _until(text, start, ";\n" if sign == ":" else ";")


def _secret_values(text: str):
    """(start, end) of each secret value in the text."""
    position = 0
    while match := _KEY.search(text, position):
        position = match.end()
        if not is_secret_name(match.group(2)):
            continue
        start, end = _value_span(text, position, match.group(3))
        if end > start:
            yield start, end
        position = max(end, position)


def _mask_pairs(text: str) -> str:
    parts, position = [], 0
    for start, end in _secret_values(text):
        quote = text[start] if text[start] in "'\"" and end - start >= 2 else ""
        if quote and text[end - 1] == quote:
            parts += [text[position:start], quote, MASK, quote]
        else:
            parts += [text[position:start], MASK]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def secret_values(text: str) -> list[str]:
    """The secrets a connection string holds, as written and unbraced."""
    found = []
    for start, end in _secret_values(text):
        value = text[start:end]
        found.append(value)
        if value.startswith("{") and value.endswith("}"):
            found.append(value[1:-1].replace("}}", "}"))
    return found


@lru_cache(maxsize=1)
def _configured_secrets() -> tuple[str, ...]:
    try:
        config = settings.CONFIG
    except Exception:  # settings not ready: patterns still apply
        return ()
    values = [config.databases.default.password, config.databases.events.password]
    values.append(config.web.secret_key)
    # Webhook URLs often carry their token in the path: mask the whole URL.
    values += [config.email.password, config.alerts.webhook_url]
    for source in config.datasources.values():
        values += secret_values(source.connection)
    return tuple(
        sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)
    )


def redact(text: Any) -> str:
    """The text with every secret it holds masked."""
    text = str(text)
    for secret in _configured_secrets():
        text = text.replace(secret, MASK)
    text = _URL_CREDENTIALS.sub(rf"\1{MASK}\3", text)
    return _mask_pairs(text)


def redact_data(value: Any) -> Any:
    """A copy of JSON-like data with secret-named keys and secret text masked."""
    if isinstance(value, dict):
        return {
            key: MASK
            if is_secret_name(key) and value[key] not in (None, "")
            else redact_data(value[key])
            for key in value
        }
    if isinstance(value, (list, tuple)):
        return [redact_data(item) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value


class RedactingFilter(logging.Filter):
    """Logging filter that masks secrets in every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
