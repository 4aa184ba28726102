"""JSON rendering with orjson; ``Decimal`` becomes an exact JSON number."""

from __future__ import annotations

import datetime
import decimal
import uuid

import orjson
from django.db.models import Model
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer

# Naive datetimes should not exist (USE_TZ); if one slips through it is UTC, said so.
_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


def json_default(value):
    """Everything orjson does not know natively. Never raises for common types."""
    if isinstance(value, decimal.Decimal):
        # The digits as written, not a float: 0.1 stays 0.1. NaN/Infinity are not JSON.
        return orjson.Fragment(str(value)) if value.is_finite() else None
    if isinstance(value, float):  # a subclass (accounts.api.parsers.JSONNumber): still a number
        return float(value)
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    # Lazy translation strings, enums, paths...: their text. Serialization never fails.
    return str(value)


def dumps(value) -> bytes:
    return orjson.dumps(value, default=json_default, option=_OPTIONS)


class JSONRenderer(DRFJSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        return dumps(data)
