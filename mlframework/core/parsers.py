"""The API's JSON parser: bodies bounded in size and nesting, always an object.

Its own module because DRF imports the parser classes while defining APIView.
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser

MAX_DEPTH = 64  # far deeper than any body the API takes; json's C parser recurses


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The request body is larger than {limit // (1024 * 1024)} MB, the "
            "most the API reads (DATA_UPLOAD_MAX_MEMORY_SIZE)."
        )


def _kind(value) -> str:
    return {
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _too_deep(value, limit: int) -> bool:
    """Whether `value` nests containers more than `limit` levels deep, without
    recursing (the check must not itself overflow the stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


class JSONBodyParser(JSONParser):
    """JSON bodies bounded in size and nesting, and always an object.

    DRF's own parser reads the stream whole without Django's size check and
    lets json recurse into a RecursionError."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        meta = request.META if request is not None else {}
        try:
            declared = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if limit is not None and declared > limit:
            raise BodyTooLarge(limit)
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise BodyTooLarge(limit)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(raw.decode(encoding), parse_constant=_refuse_constant)
        except RecursionError:
            raise exceptions.ParseError(self._depth_message()) from None
        except UnicodeDecodeError:
            raise exceptions.ParseError(
                f"The body is not valid JSON: it is not {encoding} text."
            ) from None
        except ValueError as exc:
            raise exceptions.ParseError(f"The body is not valid JSON: {exc}.") from None
        if _too_deep(data, MAX_DEPTH):
            raise exceptions.ParseError(self._depth_message())
        if not isinstance(data, dict):
            raise exceptions.ParseError(
                f"The body must be a JSON object, got {_kind(data)}."
            )
        return data

    @staticmethod
    def _depth_message() -> str:
        return (
            f"The body is not accepted: the JSON nests deeper than {MAX_DEPTH} levels."
        )
