"""JSON request bodies whose numbers keep their digits for decimal fields."""

from __future__ import annotations

import codecs

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings
from rest_framework.utils import json


class JSONNumber(float):
    """A JSON number with a fraction or exponent: a float to everything, but ``str()``
    gives back the digits as sent. DRF's ``DecimalField`` reads ``str(value)``, so
    money arrives exact (12345678.123456789012 is 12345678.12345679 as a float)."""

    def __new__(cls, literal: str | float):
        number = super().__new__(cls, literal)
        number.literal = literal if isinstance(literal, str) else repr(float(literal))
        return number

    def __str__(self) -> str:
        return self.literal


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            decoded = codecs.getreader(encoding)(stream)
            constant = json.strict_constant if api_settings.STRICT_JSON else None
            return json.load(decoded, parse_constant=constant, parse_float=JSONNumber)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
