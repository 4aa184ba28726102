"""``POST /api/internal/events``: an external engine pushes an event for a user.

Authenticated by an HMAC, never by a user token (API.md "realtime"):
``X-Botfleet-Timestamp: <unix seconds>`` and
``X-Botfleet-Signature: v1=<hex HMAC-SHA256(INTERNAL_EVENTS_SECRET, timestamp + "." + raw body)>``.
A timestamp further than ``INTERNAL_EVENTS_MAX_AGE_SECONDS`` from now, a wrong signature
or a signature already seen within that window → 401. Seen signatures are remembered
in the shared cache (``cache.add`` is atomic), for twice the window.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from django.conf import settings
from django.core.cache import cache
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core import parsers
from core.errors import Invalid, Unauthenticated, Unavailable
from core.limits import MAX_ID
from core.throttles import ScopedRateThrottle
from realtime.services import event_ingest

SIGNATURE_VERSION = "v1"
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify_signature(*, secret: str, timestamp: str | None, signature: str | None, body: bytes) -> None:
    """Raises ``Unauthenticated`` unless fresh, correctly signed and not seen before."""
    if not timestamp or not signature:
        raise Unauthenticated("Signed requests only: X-Botfleet-Timestamp and X-Botfleet-Signature.")
    # Digits only, and few: a 400-digit number overflowed the float comparison below.
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise Invalid("X-Botfleet-Timestamp must be unix seconds (up to 12 digits).", code="BAD_TIMESTAMP")
    sent_at = int(timestamp)
    if abs(time.time() - sent_at) > settings.INTERNAL_EVENTS_MAX_AGE_SECONDS:
        raise Unauthenticated("The request is too old (or from the future).", code="SIGNATURE_EXPIRED")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip()):
        raise Unauthenticated("Bad signature.", code="BAD_SIGNATURE")
    seen_key = f"realtime:ingest:{signature.strip()}"
    if not cache.add(seen_key, 1, timeout=settings.INTERNAL_EVENTS_MAX_AGE_SECONDS * 2):
        raise Unauthenticated("This request was already received.", code="REPLAYED")


class _Ingest(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    type = serializers.CharField(max_length=64)
    payload = serializers.DictField(required=False, default=dict)
    message = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    bot_id = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=MAX_ID)


class InternalEventView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "internal"

    @extend_schema(
        tags=["realtime"],
        request=_Ingest,
        responses={
            201: inline_serializer(
                "IngestedEvent",
                {"success": serializers.BooleanField(), "event_id": serializers.IntegerField()},
            ),
            400: OpenApiResponse(
                description="Not JSON (or too deep, or a NUL in a string), a malformed timestamp, a type that may "
                "not be ingested, a wrong payload shape, an unknown user or a bot that is not that user's"
            ),
            401: OpenApiResponse(description="Missing, expired, wrong or replayed signature"),
            503: OpenApiResponse(description="INTERNAL_EVENTS_SECRET is not configured"),
        },
    )
    def post(self, request):
        secret = settings.INTERNAL_EVENTS_SECRET
        if not secret:
            raise Unavailable("Internal event ingestion is not configured.", code="INGESTION_DISABLED")
        body = request.body
        verify_signature(
            secret=secret,
            timestamp=request.headers.get("X-Botfleet-Timestamp"),
            signature=request.headers.get("X-Botfleet-Signature"),
            body=body,
        )
        data = parsers.loads(body)  # ParseError (400) for bad JSON, too deep, or holding a NUL
        serializer = _Ingest(data=data if isinstance(data, dict) else {})
        if not isinstance(data, dict) or not serializer.is_valid():
            raise Invalid(
                "The body must be {user_id, type, payload}.",
                code="VALIDATION_ERROR",
                details=serializer.errors if isinstance(data, dict) else {},
            )
        event = event_ingest(**serializer.validated_data)
        return Response({"success": True, "event_id": event.pk}, status=201)
