"""Request body parsing: JSON that can never crash a view, whoever sends it.

DRF's ``JSONParser`` is the standard library's ``json``: ~1,000 nested brackets raise
``RecursionError`` (a 500, before authentication), and ``1e309`` becomes ``inf``. orjson
stops at its depth limit and refuses numbers no double can hold, with a line and column;
both are a 400 here. A NUL character in a string is refused too: PostgreSQL can store
it in neither a text nor a JSON column, so it would fail (500) at the first write.
"""

from __future__ import annotations

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

NUL = "\x00"


def loads(body: bytes | str):
    """The JSON value of ``body``, or ``ParseError`` saying what is wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"JSON parse error: {exc}") from None
    # A NUL can only come from the escape (a raw one is invalid JSON): look only then.
    escaped = b"\\u0000" if isinstance(body, bytes | bytearray | memoryview) else "\\u0000"
    if escaped in body and contains_nul(data):
        message = "may not contain the NUL character (\\u0000)."
        # Name the top-level field that holds it, as a validation error would.
        fields = (
            [str(k).replace(NUL, "\\u0000") for k, v in data.items() if contains_nul(k) or contains_nul(v)]
            if isinstance(data, dict)
            else []
        )
        raise ParseError({field: [message] for field in fields} if fields else f"JSON strings {message}")
    return data


def contains_nul(value) -> bool:
    """Whether any string in ``value`` (keys included) holds a NUL; iterative, any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class JSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read() if stream is not None else b""
        return loads(body)
