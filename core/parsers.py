"""Request body parsing: JSON that can never crash a view, and numbers that keep their digits.

* **Hostile bodies are 400s.** The standard library's parser raises ``RecursionError`` on
  ~1,000 nested brackets (a 500, before authentication) and turns ``1e309`` into ``inf``.
  orjson stops at its depth limit and refuses numbers no double (or 64-bit integer) can
  hold, with a line and column: it judges every body first, and what it refuses is a 400.
  A NUL character in a string is refused too: PostgreSQL can store it in neither a text
  nor a JSON column, so it would fail (500) at the first write.
* **Exact money.** orjson has no hook for number literals, so a body it accepted is read
  again by the standard library with ``parse_float``: a number with a fraction or exponent
  becomes a :class:`JSONNumber`, a float to everything, whose ``str()`` is the digits as
  sent. DRF's ``DecimalField`` reads ``str(value)``, so 12345678.123456789012 arrives
  exact (as a float it would be 12345678.12345679). Small bodies make the second read cheap.
"""

from __future__ import annotations

import json
import math

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

NUL = "\x00"


class JSONNumber(float):
    """A JSON number with a fraction or exponent; ``str()`` is its literal."""

    def __new__(cls, literal: str | float):
        number = super().__new__(cls, literal)
        if not math.isfinite(number):
            raise ValueError(f"the number {literal} is out of range")
        number.literal = literal if isinstance(literal, str) else repr(float(literal))
        return number

    def __str__(self) -> str:
        return self.literal


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
    try:
        return json.loads(bytes(body) if isinstance(body, memoryview) else body, parse_float=JSONNumber)
    except (RecursionError, ValueError):  # deeper than the standard library goes: orjson's reading stands
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
