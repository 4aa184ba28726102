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
    if isinstance(value, float):  # a subclass (core.parsers.JSONNumber): still a number
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


# orjson refuses what JSON itself allows or what a stored row may hold: integers beyond
# 64 bits (PostgreSQL's JSON keeps ``1e20`` as an exact integer), nesting deeper than
# its limit, strings that are not valid UTF-8. Below this depth a value is rewritten.
_MAX_DEPTH = 250
_INT_RANGE = (-(2**63), 2**64 - 1)


class Unserializable(ValueError):
    """A value JSON can only carry by losing part of it (see ``dumps(exact=True)``)."""


def dumps(value, *, exact: bool = False) -> bytes:
    """JSON bytes of ``value``; never raises unless ``exact``.

    The fast path is orjson as is. What it refuses is rewritten: an integer beyond 64
    bits becomes the same exact JSON number (a fragment of its digits); a string that
    is not valid UTF-8 gets replacement characters; a subtree nested past ``_MAX_DEPTH``
    becomes ``null``. The last two lose data: with ``exact=True`` they raise
    ``Unserializable`` instead (the relay records such an event as failed).
    """
    try:
        return orjson.dumps(value, default=json_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        pass
    lossy: list[str] = []
    safe = _rewrite(value, 0, lossy)
    if lossy and exact:
        raise Unserializable(lossy[0])
    return orjson.dumps(safe, default=json_default, option=_OPTIONS)


def _rewrite(value, depth: int, lossy: list[str]):
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        if _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            return value
        return orjson.Fragment(str(int(value)))  # int(): an IntEnum's digits, not its name
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            lossy.append("a string that is not valid UTF-8")
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, (dict, list, tuple)):
        if depth >= _MAX_DEPTH:
            lossy.append(f"nesting deeper than {_MAX_DEPTH} levels")
            return None
        if isinstance(value, dict):
            return {
                (_rewrite(key, depth + 1, lossy) if isinstance(key, str) else key): _rewrite(item, depth + 1, lossy)
                for key, item in value.items()
            }
        return [_rewrite(item, depth + 1, lossy) for item in value]
    try:
        return _rewrite(json_default(value), depth, lossy) if not isinstance(value, orjson.Fragment) else value
    except RecursionError:  # a value whose conversion is itself a cycle
        lossy.append(f"an object of type {type(value).__name__}")
        return None


class JSONRenderer(DRFJSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        return dumps(data)
