"""Parsers for the ``keys/*`` endpoints, which also take JSON sent with a wrong content type.

``curl -d '{"exchange": …}'`` sends JSON as ``application/x-www-form-urlencoded`` and some
scripts send it as ``text/plain``; both are read as JSON when the body is a JSON object.
"""

from __future__ import annotations

from django.http import QueryDict
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser

from core.parsers import JSONParser
from core.parsers import loads as _json_object


class PlainTextJSONParser(BaseParser):
    media_type = "text/plain"

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read() if stream is not None else b""
        if not body.strip():
            return {}
        return _json_object(body)


class LenientFormParser(FormParser):
    """urlencoded, unless the body is plainly a JSON object."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read() if stream is not None else b""
        if body.lstrip().startswith(b"{"):
            return _json_object(body)
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            return QueryDict(body, encoding=encoding)
        except UnicodeDecodeError as exc:
            raise ParseError("The form body is not valid UTF-8.") from exc


KEYS_PARSERS = [JSONParser, LenientFormParser, MultiPartParser, PlainTextJSONParser]
