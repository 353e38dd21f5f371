"""Keep secrets out of pages, logs and events.

Masks passwords in ODBC connection strings (PWD=...), URLs (user:pass@host),
``key=value`` / ``key: value`` pairs whose key names a secret, and the literal
secret values configured in config.yaml.
"""

import logging
import re
from functools import lru_cache
from typing import Any

MASK = "********"
_SECRET_KEY = r"(?:pwd|pass(?:word|wd)?|secret|token|api[_-]?key|auth)"  # noqa: S105
_PAIR = re.compile(
    rf"(?i)(\b\w*{_SECRET_KEY}\w*\s*[=:]\s*)(\{{[^}}]*\}}|\"[^\"]*\"|'[^']*'|[^;,\s]+)"
)
_URL_CREDENTIALS = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)([^@\s]+)(@)")
_SECRET_NAME = re.compile(rf"(?i){_SECRET_KEY}")


@lru_cache(maxsize=1)
def _configured_secrets() -> tuple[str, ...]:
    try:
        from django.conf import settings

        config = settings.CONFIG
    except Exception:  # settings not ready: patterns still apply
        return ()
    values = [config.databases.default.password, config.databases.events.password]
    values.append(config.web.secret_key)
    # Webhook URLs often carry their token in the path: mask the whole URL.
    values += [config.email.password, config.alerts.webhook_url]
    for source in config.datasources.values():
        values += [m.group(2) for m in _PAIR.finditer(source.connection)]
    return tuple(
        sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)
    )


def redact(text: Any) -> str:
    """The text with every secret it holds masked."""
    text = str(text)
    for secret in _configured_secrets():
        text = text.replace(secret, MASK)
    text = _URL_CREDENTIALS.sub(rf"\1{MASK}\3", text)
    return _PAIR.sub(rf"\1{MASK}", text)


def redact_data(value: Any) -> Any:
    """A copy of JSON-like data with secret-named keys and secret text masked."""
    if isinstance(value, dict):
        return {
            key: MASK
            if _SECRET_NAME.search(str(key)) and value[key] not in (None, "")
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
